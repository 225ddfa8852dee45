/**
 * Limits of one job attempt: how long it may run (`timeout`) and how many deliveries it gets (`max_attempts`).
 * They travel with the job (`Job.limits`) but are not part of its identity: changing a timeout does not make a
 * new job. Pure.
 */
import type { Job } from "./job.ts";

/** Default `max_attempts` of a spec. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Default timeout: a fixed allowance plus a generous time per training step, capped at two days. */
export const TIMEOUT_BASE_S = 600;
export const TIMEOUT_PER_STEP_S = 10;
export const TIMEOUT_CAP_S = 48 * 3600;

/**
 * The default timeout of a job, in seconds, derived from its size: train jobs 600 s + 10 s × steps (the slowest
 * measured step, D = 225 on the wasm backend, takes 3.7 s), at most 48 h; `sleep` jobs 600 s + their sleep;
 * other test kinds 600 s.
 */
export function defaultTimeoutS(kind: Job["kind"], config: Record<string, unknown>): number {
  if (kind === "train") {
    const steps = Number(config.steps);
    const n = Number.isFinite(steps) && steps > 0 ? steps : 0;
    return Math.min(TIMEOUT_CAP_S, TIMEOUT_BASE_S + TIMEOUT_PER_STEP_S * n);
  }
  if (kind === "sleep") return TIMEOUT_BASE_S + Math.max(0, Number(config.ms ?? 100) || 0) / 1000;
  return TIMEOUT_BASE_S;
}

/** The longest timer a JavaScript runtime keeps (about 24.8 days); a longer timeout means "no limit" here. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timeout that applies to a job, in milliseconds: its own, or the default for its size. */
export function jobTimeoutMs(job: Job): number {
  const ms = 1000 * (job.limits?.timeout_s ?? defaultTimeoutS(job.kind, job.config));
  return Math.min(MAX_TIMER_MS, Number.isFinite(ms) && ms > 0 ? ms : MAX_TIMER_MS);
}

/**
 * Parses a duration: a number of seconds (`90`, `0.5`) or a number with a unit (`90s`, `10m`, `2h`).
 * Returns null for anything else or a value that is not positive.
 */
export function parseDurationS(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) && v > 0 ? v : null;
  if (typeof v !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/.exec(v);
  if (!m) return null;
  const s = Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1);
  return s > 0 ? s : null;
}

/** The largest spec `seed_batch` (seeds per unit, core/sweep/seed_batch.ts). */
export const MAX_SEED_BATCH = 1024;
