/**
 * Names and settings of the NATS topology: every subject, stream, consumer and bucket derives from one prefix
 * (see the topology in `../nats.ts`).
 */
import { NatsFlagError } from "./connection.ts";

export interface NatsSettings {
  /** Prefix of every subject, stream, consumer and bucket name (one subject token). Default `flowsweep`. */
  prefix?: string;
  /** Consumer ack wait; workers heartbeat every third of it. Default 30 000 ms. */
  ackWaitMs?: number;
  /** Executions per job before it is recorded failed. Consumer `max_deliver` = this + 1. Default 3. */
  maxAttempts?: number;
  /** Delay before a failed attempt is redelivered (nak delay). Default 2 000 ms. */
  retryDelayMs?: number;
  /** Stream duplicate window for `Nats-Msg-Id`. Default 120 000 ms. */
  duplicateWindowMs?: number;
}

const DEFAULTS = {
  prefix: "flowsweep",
  ackWaitMs: 30_000,
  maxAttempts: 3,
  retryDelayMs: 2_000,
  duplicateWindowMs: 120_000,
};

export interface NatsNames {
  prefix: string;
  jobsStream: string;
  eventsStream: string;
  consumer: string;
  statusBucket: string;
  artifactBucket: string;
}

export function natsNames(prefix = DEFAULTS.prefix): NatsNames {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) {
    throw new NatsFlagError(`NATS prefix must match [A-Za-z0-9_-]+, got "${prefix}"`);
  }
  const up = prefix.toUpperCase();
  return {
    prefix,
    jobsStream: `${up}_JOBS`,
    eventsStream: `${up}_EVENTS`,
    consumer: `${prefix}-workers`,
    statusBucket: `${prefix}-status`,
    artifactBucket: `${prefix}-artifacts`,
  };
}

/** A subject / KV-key token for a sweep name or job id: anything outside [A-Za-z0-9_-] becomes `_`. */
export function natsToken(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]/g, "_");
  return t === "" ? "_" : t;
}

/**
 * The wire scope of a sweep run: every subject, KV key and message id of its jobs and events carries it, so
 * two runs on one broker never see each other's jobs, states or results (issue 9 item 1, issue 10 item 2).
 * `<sweep>` alone (no run id: the API's default, one scope per sweep name) or `<sweep>=<run>` (a run of the
 * `sweep` command: its run id is kept in the run directory, so `--resume` finds the same scope). `=` never
 * occurs in a `natsToken`, so the two forms cannot collide.
 */
export function scopeToken(sweep: string, run?: string): string {
  return run === undefined || run === "" ? natsToken(sweep) : `${natsToken(sweep)}=${natsToken(run)}`;
}

/** Subject of a job message: `<prefix>.jobs.<scope>.<job>` (one subject per job, so the stream says which are queued). */
export function jobSubject(prefix: string, scope: string, jobId?: string): string {
  return jobId === undefined ? `${prefix}.jobs.${scope}` : `${prefix}.jobs.${scope}.${natsToken(jobId)}`;
}
/** The scope token of a job message's subject (`<prefix>.jobs.<scope>[.<job>]`). */
export function scopeOfJobSubject(subject: string): string {
  return subject.split(".")[2] ?? "_";
}
/**
 * Subject of an event: `<prefix>.events.<sweep>.<kind>.<job>`, or `<prefix>.events.<sweep>.<kind>.<run>.<job>`
 * for a run scope (`<sweep>=<run>`): the sweep stays the third token and the job the last, so a filter on a
 * sweep's results (`<prefix>.events.<sweep>.result.>`) sees every run of it.
 */
function eventSubject(prefix: string, scope: string, kind: string, jobId: string): string {
  const i = scope.indexOf("=");
  const where = i < 0 ? `${scope}.${kind}` : `${scope.slice(0, i)}.${kind}.${scope.slice(i + 1)}`;
  return `${prefix}.events.${where}.${natsToken(jobId)}`;
}
export function progressSubject(prefix: string, scope: string, jobId: string): string {
  return eventSubject(prefix, scope, "progress", jobId);
}
export function resultSubject(prefix: string, scope: string, jobId: string): string {
  return eventSubject(prefix, scope, "result", jobId);
}
/** Filter for every event of one scope (exactly its subjects: a sweep's own scope excludes its runs'). */
export function eventsFilter(prefix: string, scope: string): string {
  const i = scope.indexOf("=");
  return i < 0
    ? `${prefix}.events.${scope}.*.*`
    : `${prefix}.events.${scope.slice(0, i)}.*.${scope.slice(i + 1)}.*`;
}
/** Scope, kind and job token of an event subject (see `eventSubject`). */
export function parseEventSubject(subject: string): { scope: string; kind: string; job: string } | null {
  const t = subject.split(".");
  if (t.length === 5) return { scope: t[2], kind: t[3], job: t[4] };
  if (t.length === 6) return { scope: `${t[2]}=${t[4]}`, kind: t[3], job: t[5] };
  return null;
}
/** KV key of a job's state. */
export function statusKey(scope: string, jobId: string): string {
  return `${scope}.${natsToken(jobId)}`;
}
/**
 * `Nats-Msg-Id` of a job message / result: scoped by the sweep run, and by `run` (1 for the first publish, +1
 * each time a failed job is queued again) so a re-run is never swallowed as a duplicate of the run before it.
 * The job id itself stays the content hash of its config.
 */
export function runMsgId(scope: string, jobId: string, run: number): string {
  return `${scope}.${jobId}.${run}`;
}

export interface Resolved {
  names: NatsNames;
  ackWaitMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  duplicateWindowMs: number;
}

export function resolve(s: NatsSettings = {}): Resolved {
  const r = {
    names: natsNames(s.prefix ?? DEFAULTS.prefix),
    ackWaitMs: s.ackWaitMs ?? DEFAULTS.ackWaitMs,
    maxAttempts: s.maxAttempts ?? DEFAULTS.maxAttempts,
    retryDelayMs: s.retryDelayMs ?? DEFAULTS.retryDelayMs,
    duplicateWindowMs: s.duplicateWindowMs ?? DEFAULTS.duplicateWindowMs,
  };
  if (!(r.ackWaitMs >= 1000)) throw new NatsFlagError(`ack wait must be ≥ 1000 ms, got ${r.ackWaitMs}`);
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new NatsFlagError(`max attempts must be a positive integer, got ${r.maxAttempts}`);
  }
  return r;
}

export const ms2ns = (ms: number) => Math.round(ms * 1_000_000);
