/**
 * The sweep domain's job types: what a sweep expands into (`Job`), what the results store keeps about each
 * (`JobRecord`) and what a report asks for (`ReportLayout`). Pure types; the queues in `transport/` carry them.
 */

/** One metric record: an evaluation's metrics (streamed while a job runs) or a job's final summary. */
export type MetricRecord = Record<string, number | string | boolean | undefined>;

/**
 * What executes a job: `train` runs `trainRun(config)`; the test kinds exist for the system's own tests and
 * benchmarks (`noop` returns at once, `sleep` waits config.ms, `fail` always throws config.reason).
 */
export type JobKind = "train" | "noop" | "sleep" | "fail";

/** A job is one fully resolved training config plus the sweep bookkeeping around it. */
export interface Job {
  /** Hash of the canonical form of `config` (core/canonical.ts `canonicalJson`). Dedupe key. */
  id: string;
  sweep: string;
  stage: string;
  kind: JobKind;
  config: Record<string, unknown>;
  /** Artifacts this job consumes (name → artifact key), e.g. a trained energy from an earlier stage. */
  inputs?: Record<string, string>;
  /** Limits of one attempt (core/sweep/limits.ts); not part of the id. Absent: defaults for the job's size. */
  limits?: JobLimits;
}

/** Spec `timeout` (seconds) and `max_attempts` of a job. */
export interface JobLimits {
  timeout_s?: number;
  max_attempts?: number;
}

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** Everything stored about one job in a run's results store; what reports aggregate. */
export interface JobRecord {
  id: string;
  sweep: string;
  stage: string;
  kind: JobKind;
  config: Record<string, unknown>;
  status: JobStatus;
  attempts: number;
  worker?: string;
  error?: string;
  /** Final metrics (the train summary) when done. */
  final?: MetricRecord;
  /** Metric records in arrival order (one per evaluation). */
  history: MetricRecord[];
}

/** What the report asks for: a table layout over job configs (docs/spec.md, `report:`). */
export interface ReportLayout {
  /** Config keys whose values index the rows / columns, e.g. ["objective", "alpha"] × ["task", "energy"]. */
  rows: string[];
  columns: string[];
  /** Final metric shown in each cell as mean ± std over seeds, e.g. "nll" or "e_logw". */
  metric: string;
  /** Number of decimals in cells. */
  decimals?: number;
  title?: string;
}
