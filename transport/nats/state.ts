/**
 * Job state in the KV status bucket (key `<sweep>.<jobId>`): the authority on what is queued / running / done
 * / failed, read and written with revision checks.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, Kvm } from "@nats-io/kv";
import type { Job, JobStatus } from "../../core/sweep/job.ts";
import type { JobResult } from "../types.ts";
import { natsNames, natsToken } from "./names.ts";
import { isNotFound } from "./retry.ts";
import { fromWire, toWire } from "./wire.ts";

/** What the status bucket holds per job. */
export interface NatsJobState {
  id: string;
  sweep: string;
  stage: string;
  kind: Job["kind"];
  status: JobStatus;
  /** Deliveries that started an execution (1 on the first). */
  attempts: number;
  /** 1 for the first publish; +1 each time a failed/cancelled job is queued again. */
  run: number;
  /** Stream sequence of the job message that owns this run; 0 until known. */
  seq: number;
  /** Hash of the config the worker claimed (== id for a genuine job); results carry it. */
  configId?: string;
  /** Attempts allowed for this job (set by the publisher, e.g. the spec's max_attempts). */
  maxAttempts?: number;
  worker?: string;
  error?: string;
  final?: JobResult["final"];
  /** ISO time of the last change. */
  updated: string;
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

function parseState(data: Uint8Array): NatsJobState | null {
  try {
    return fromWire<NatsJobState>(data);
  } catch {
    return null;
  }
}

export async function getState(
  kv: KV,
  key: string,
): Promise<{ state: NatsJobState | null; revision: number }> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT") return { state: null, revision: e?.revision ?? 0 };
  return { state: parseState(e.value), revision: e.revision };
}

/** Write `next` with a revision check; `revision` 0 means "must not exist" (a deleted key counts as absent). */
export async function writeState(kv: KV, key: string, next: NatsJobState, revision: number): Promise<number> {
  const body = toWire({ ...next, updated: new Date().toISOString() });
  return revision > 0 ? await kv.update(key, body, revision) : await kv.create(key, body);
}

export const isTerminal = (s: JobStatus) => s === "done" || s === "failed";

export function resultOf(st: NatsJobState): JobResult {
  const r: JobResult = {
    jobId: st.id,
    worker: st.worker ?? "",
    attempt: st.attempts,
    status: st.status === "done" ? "done" : "failed",
  };
  if (st.configId !== undefined) r.configId = st.configId;
  if (st.final !== undefined) r.final = st.final;
  if (st.error !== undefined) r.error = st.error;
  return r;
}

export async function readStatusBucket(kv: KV, sweep?: string): Promise<NatsJobState[]> {
  const keys: string[] = [];
  const it = await kv.keys(sweep === undefined ? ">" : `${natsToken(sweep)}.>`);
  for await (const k of it) keys.push(k);
  const out: NatsJobState[] = [];
  for (const k of keys.sort()) {
    const { state } = await getState(kv, k);
    if (state) out.push(state);
  }
  return out;
}

/** Reads the status bucket (for `status --nats`): every job of `sweep` (or of all sweeps). */
export async function readNatsStatus(
  nc: NatsConnection,
  opts: { sweep?: string; prefix?: string } = {},
): Promise<NatsJobState[]> {
  const names = natsNames(opts.prefix);
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(names.statusBucket);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  try {
    return await readStatusBucket(kv, opts.sweep);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Counts per status (queued/running/done/failed/cancelled) of a status list. */
export function countStatuses(states: NatsJobState[]): Record<JobStatus, number> {
  const c: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const s of states) c[s.status] = (c[s.status] ?? 0) + 1;
  return c;
}
