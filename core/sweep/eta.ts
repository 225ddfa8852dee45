/**
 * Time left in a sweep from per-job step rates (issue 10, item 8): a running job's rate is its latest record's
 * step / seconds, so its remaining time is (steps − step) · seconds / step; a queued job is expected to take
 * the mean duration of the finished jobs (or, before any finished, the projected total of the running ones).
 * The remaining work is shared by the slots (workers) that run jobs in parallel. Pure.
 */

export interface RunningJob {
  /** Steps the job runs in all (its config's `steps`), when known. */
  steps?: number;
  /** Latest record: step reached and training seconds so far. */
  step?: number;
  seconds?: number;
  /** Wall time since the job started. */
  elapsedMs: number;
}

/** Milliseconds left for a running job from its own step rate, or undefined before its first record. */
export function jobRemainingMs(j: RunningJob): number | undefined {
  if (j.steps === undefined || j.step === undefined || j.seconds === undefined || j.step <= 0) {
    return undefined;
  }
  if (!(j.seconds > 0)) return undefined;
  return Math.max(0, j.steps - j.step) * (1000 * j.seconds / j.step);
}

export interface EtaInput {
  running: RunningJob[];
  /** Jobs still waiting to run. */
  queued: number;
  /** Wall durations of jobs finished so far. */
  finishedMs: number[];
  /** Jobs that run at once (workers); at least 1. */
  slots: number;
}

/** Estimated milliseconds until every running and queued job has finished; undefined when nothing says. */
export function sweepEtaMs(input: EtaInput): number | undefined {
  const left = input.running.map(jobRemainingMs);
  const totals = input.running.map((j, i) => (left[i] === undefined ? undefined : j.elapsedMs + left[i]!));
  const known = input.finishedMs.length
    ? input.finishedMs
    : totals.filter((t) => t !== undefined) as number[];
  const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
  let work = 0, longest = 0;
  for (let i = 0; i < input.running.length; i++) {
    const r = left[i] ?? (mean !== undefined ? Math.max(0, mean - input.running[i].elapsedMs) : undefined);
    if (r === undefined) return undefined;
    work += r;
    longest = Math.max(longest, r);
  }
  if (input.queued > 0) {
    if (mean === undefined) return undefined;
    work += input.queued * mean;
  }
  return Math.max(longest, work / Math.max(1, input.slots));
}
