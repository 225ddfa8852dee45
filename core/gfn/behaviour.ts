/**
 * Behaviour policies: the distribution training trajectories are drawn from when it is not the training policy
 * P_F itself (docs/offpolicy.md). log P_F of the *training* policy is what enters every objective; the behaviour's
 * own log-probability log β(τ) is kept beside it so that importance weights ρ(τ) = P_F(τ)/β(τ) can be formed
 * (core/objectives/offpolicy.ts).
 *
 * Per-step behaviours (any environment with a masked action set, and the bit-vector value choice):
 *   tempered   β(a|s) ∝ exp(logit_a(s) / T) over the valid actions                         (T = 1: P_F)
 *   ε-uniform  β(a|s) = (1 − ε)·P̂(a|s) + ε / |valid(s)|, P̂ = P_F or its tempered version    (ε = 0: P̂)
 * with ε following a schedule over training (constant, or linear from `epsilon` to `epsilon_end`).
 * Both have full support wherever P_F has, so every importance weight is finite.
 *
 * Replay (core/gfn/replay.ts): a mixture β(τ) = (1 − r)·β_fwd(τ) + r·B(x)·P_B(τ|x) of fresh forward trajectories
 * (from the per-step behaviour above) and terminal states x drawn from a buffer of past terminal states, replayed
 * through the backward policy P_B. The buffer's probability B(x) is known exactly (uniform over its distinct
 * states, or proportional to R), so β(τ) is exact and, through its forward part, has full support.
 */

export const BEHAVIOURS = ["on-policy", "epsilon", "tempered", "replay"] as const;
export type BehaviourKind = typeof BEHAVIOURS[number];

export const EPSILON_SCHEDULES = ["constant", "linear"] as const;
export const REPLAY_SAMPLING = ["uniform", "reward"] as const;

/** A behaviour policy as a job configures it (the resolved defaults of core/train/config.ts). */
export interface BehaviourSpec {
  kind: BehaviourKind;
  /** ε at the first step (kinds epsilon and replay; 0 elsewhere). */
  epsilon: number;
  /** ε at the last step when the schedule is linear. */
  epsilonEnd: number;
  schedule: typeof EPSILON_SCHEDULES[number];
  /** Temperature of the logits (kinds tempered and replay; 1 elsewhere). */
  temperature: number;
  /** Replay: buffer capacity (distinct terminal states, oldest evicted first), share of replayed samples, rule. */
  replaySize: number;
  replayRatio: number;
  replaySampling: typeof REPLAY_SAMPLING[number];
}

export const ON_POLICY: BehaviourSpec = {
  kind: "on-policy",
  epsilon: 0,
  epsilonEnd: 0,
  schedule: "constant",
  temperature: 1,
  replaySize: 0,
  replayRatio: 0,
  replaySampling: "uniform",
};

/** The per-step part of a behaviour at one training step: tempered logits, then ε-uniform mixing. */
export interface StepBehaviour {
  epsilon: number;
  temperature: number;
}

/** ε at training step `step` of `steps` (1-based; linear: ε_start at step 1, ε_end at the last step). */
export function epsilonAt(spec: BehaviourSpec, step: number, steps: number): number {
  if (spec.schedule === "constant" || steps <= 1) return spec.epsilon;
  const f = Math.min(1, Math.max(0, (step - 1) / (steps - 1)));
  return spec.epsilon + f * (spec.epsilonEnd - spec.epsilon);
}

export function stepBehaviour(spec: BehaviourSpec, step: number, steps: number): StepBehaviour {
  return { epsilon: epsilonAt(spec, step, steps), temperature: spec.temperature };
}

/** Whether the per-step behaviour is P_F itself (then log β = log P_F and no weights are needed). */
export function isIdentity(b: StepBehaviour | undefined): boolean {
  return !b || (b.epsilon === 0 && b.temperature === 1);
}

/**
 * Behaviour probabilities of one row of logits over the valid actions (mask[mo + a] = 1), written into
 * out[po..po+n): β = (1 − ε)·softmax(logits/T) + ε/|valid|; 0 at invalid actions.
 */
export function behaviourProbs(
  logits: ArrayLike<number>,
  o: number,
  mask: Uint8Array,
  mo: number,
  n: number,
  b: StepBehaviour,
  out: Float64Array,
  po: number,
): void {
  const invT = 1 / b.temperature;
  let m = -Infinity, valid = 0;
  for (let a = 0; a < n; a++) {
    if (!mask[mo + a]) continue;
    valid++;
    if (logits[o + a] * invT > m) m = logits[o + a] * invT;
  }
  let s = 0;
  for (let a = 0; a < n; a++) s += out[po + a] = mask[mo + a] ? Math.exp(logits[o + a] * invT - m) : 0;
  for (let a = 0; a < n; a++) {
    out[po + a] = mask[mo + a] ? (1 - b.epsilon) * out[po + a] / s + b.epsilon / valid : 0;
  }
}

/**
 * The bit-vector value choice (docs/math.md §"Bit vectors"): the training policy's p₊ = σ(l₊ − l₋); the behaviour's
 * β₊ = (1 − ε)·σ((l₊ − l₋)/T) + ε/2. (The position is uniform under both, so its factor cancels in ρ.)
 */
export function behaviourPlus(diff: number, b: StepBehaviour): number {
  return (1 - b.epsilon) / (1 + Math.exp(-diff / b.temperature)) + b.epsilon / 2;
}

/** Checks a spec's numbers; returns the first problem as one line, or null. */
export function behaviourProblem(spec: BehaviourSpec): string | null {
  const inUnit = (v: number) => v >= 0 && v <= 1;
  if (!inUnit(spec.epsilon) || !inUnit(spec.epsilonEnd)) return "epsilon and epsilon_end must lie in [0, 1]";
  if (!(spec.temperature > 0) || !Number.isFinite(spec.temperature)) return "temperature must be positive";
  if (spec.kind === "replay") {
    if (!(spec.replaySize >= 1)) return "replay_size must be at least 1";
    if (!(spec.replayRatio >= 0 && spec.replayRatio < 1)) {
      return "replay_ratio must lie in [0, 1) (the fresh forward part gives β full support)";
    }
  }
  return null;
}
