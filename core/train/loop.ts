/**
 * The training loop (core/train/trainer.ts): evaluate at step 0, every `eval_every` steps and after
 * the last step; time the training steps (evaluation excluded); honour the abort signal; yield to the event loop
 * between steps so callers can show progress and abort. Each training step runs in the run's arena (one per model
 * shape, core/nn/arena.ts): its buffers are reused from step to step instead of allocated afresh.
 */
import type { Gemm } from "../nn/gemm.ts";
import { kernelsOf } from "../nn/kernels.ts";
import type { EvalRecord, TrainConfig, TrainSummary } from "./config.ts";

export interface LoopOptions {
  gemm: Gemm;
  onEval?: (record: EvalRecord) => void | Promise<void>;
  onStep?: (step: number) => void;
  signal?: AbortSignal;
  now?: () => number;
}

export interface LoopHooks {
  /** One training step (1-based). */
  step(step: number): void;
  /** The metrics after `step` steps; `step` and `seconds` are filled in by the loop. */
  evaluate(
    step: number,
  ): Omit<EvalRecord, "step" | "seconds"> | Promise<Omit<EvalRecord, "step" | "seconds">>;
}

export async function runTrainingLoop(
  config: TrainConfig,
  opts: LoopOptions,
  hooks: LoopHooks,
): Promise<TrainSummary> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  let trainMs = 0;
  let last!: EvalRecord;
  const evaluate = async (step: number) => {
    const metrics = await hooks.evaluate(step);
    last = { step, seconds: (now() - started) / 1000, ...metrics } as EvalRecord;
    await opts.onEval?.(last);
  };
  await evaluate(0);
  const arena = kernelsOf(opts.gemm).createArena();
  try {
    for (let step = 1; step <= config.steps; step++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
      const t0 = now();
      arena.run(() => hooks.step(step));
      trainMs += now() - t0;
      opts.onStep?.(step);
      if (step % config.eval_every === 0 || step === config.steps) await evaluate(step);
      else await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    arena.memory.release?.();
  }
  return {
    ...last,
    final: true,
    steps: config.steps,
    backend: opts.gemm.name,
    ms_per_step: trainMs / config.steps,
  };
}
