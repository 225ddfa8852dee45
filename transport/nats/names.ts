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

export function jobSubject(prefix: string, sweep: string): string {
  return `${prefix}.jobs.${natsToken(sweep)}`;
}
export function progressSubject(prefix: string, sweep: string, jobId: string): string {
  return `${prefix}.events.${natsToken(sweep)}.progress.${natsToken(jobId)}`;
}
export function resultSubject(prefix: string, sweep: string, jobId: string): string {
  return `${prefix}.events.${natsToken(sweep)}.result.${natsToken(jobId)}`;
}
/** KV key of a job's state. */
export function statusKey(sweep: string, jobId: string): string {
  return `${natsToken(sweep)}.${natsToken(jobId)}`;
}
/** `Nats-Msg-Id` of a job message / result of run `run` (1 = first publish). */
export function runMsgId(jobId: string, run: number): string {
  return run <= 1 ? jobId : `${jobId}.${run}`;
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
