/**
 * Job state in the KV status bucket (key `<scope>.<jobId>`, see `scopeToken`): the authority on what is
 * queued / running / done / failed, read and written with revision checks. Reads of many jobs are one
 * ordered-consumer pass over the bucket's stream (last value per key), not a get per job.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Job, JobStatus } from "../../core/sweep/job.ts";
import type { JobResult } from "../types.ts";
import { natsNames, natsToken } from "./names.ts";
import { isNotFound } from "./retry.ts";
import { fromWire, toWire } from "./wire.ts";

/** What the status bucket holds per job. */
export interface NatsJobState {
  id: string;
  sweep: string;
  /** Wire scope of the sweep run (`scopeToken`); absent in states written before scopes existed. */
  scope?: string;
  stage: string;
  kind: Job["kind"];
  status: JobStatus;
  /**
   * Attempts so far, over every run of the job in this scope: `prior` + deliveries of the current run's
   * message (1 on the first).
   */
  attempts: number;
  /** Attempts made by earlier runs (a failed job queued again), or by an earlier queue (`publish` opts). */
  prior?: number;
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
  /** Code version (engine content hash) of the worker that produced `final`. */
  code?: string;
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

export interface StateEntry {
  state: NatsJobState | null;
  revision: number;
}

export async function getState(kv: KV, key: string): Promise<StateEntry> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT") return { state: null, revision: e?.revision ?? 0 };
  return { state: parseState(e.value), revision: e.revision };
}

/** Write `next` with a revision check; `revision` 0 means "must not exist" (a deleted key counts as absent). */
export async function writeState(kv: KV, key: string, next: NatsJobState, revision: number): Promise<number> {
  const body = toWire({ ...next, updated: new Date().toISOString() });
  return revision > 0 ? await kv.update(key, body, revision) : await kv.create(key, body);
}

/**
 * The latest state and revision of every key matching `filter` (a KV key pattern such as `<scope>.>`), in one
 * pass of an ordered consumer over the bucket's stream (last message per subject). Deleted keys map to
 * `{ state: null, revision }`.
 */
export async function readStates(
  js: JetStreamClient,
  bucket: string,
  filter: string,
): Promise<Map<string, StateEntry>> {
  const out = new Map<string, StateEntry>();
  const prefix = `$KV.${bucket}.`;
  // An ordered push consumer, as the KV client's own `keys()`: its info says how many keys match.
  const c = await js.consumers.getPushConsumer(`KV_${bucket}`, {
    filter_subjects: `${prefix}${filter}`, // one subject: `filter_subject`, which nats-server 2.9 knows
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  const info = await c.info();
  if (info.num_pending === 0) {
    await c.delete().catch(() => {});
    return out;
  }
  const it = await c.consume();
  try {
    for await (const m of it) {
      const op = m.headers?.get("KV-Operation");
      const key = m.subject.substring(prefix.length);
      out.set(key, { state: op === "DEL" || op === "PURGE" ? null : parseState(m.data), revision: m.seq });
      if (m.info.pending === 0) break;
    }
  } finally {
    it.stop();
    await c.delete().catch(() => {});
  }
  return out;
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
  if (st.code !== undefined) r.code = st.code;
  return r;
}

/**
 * States of one sweep: of its most recent run (the scope whose states changed last), as `status --nats SWEEP`
 * shows it; or of every sweep when `sweep` is undefined. Sorted by key.
 */
export async function readStatusBucket(
  js: JetStreamClient,
  bucket: string,
  sweep?: string,
  scope?: string,
): Promise<NatsJobState[]> {
  const all = await readStates(js, bucket, scope !== undefined ? `${scope}.>` : ">");
  let keys = [...all.keys()].sort();
  if (sweep !== undefined && scope === undefined) {
    const tok = natsToken(sweep);
    const latest = new Map<string, string>(); // scope → newest update
    for (const k of keys) {
      const sc = k.slice(0, k.indexOf("."));
      if (sc !== tok && !sc.startsWith(`${tok}=`)) continue;
      const u = all.get(k)!.state?.updated ?? "";
      if ((latest.get(sc) ?? "") <= u) latest.set(sc, u);
    }
    let best: string | undefined;
    for (const [sc, u] of latest) if (best === undefined || u > latest.get(best)!) best = sc;
    keys = best === undefined ? [] : keys.filter((k) => k.startsWith(`${best}.`));
  }
  const out: NatsJobState[] = [];
  for (const k of keys) {
    const st = all.get(k)!.state;
    if (st) out.push(st);
  }
  return out;
}

/** Reads the status bucket (for `status --nats`): every job of `sweep`'s latest run (or of all sweeps). */
export async function readNatsStatus(
  nc: NatsConnection,
  opts: { sweep?: string; prefix?: string; scope?: string } = {},
): Promise<NatsJobState[]> {
  const names = natsNames(opts.prefix);
  try {
    return await readStatusBucket(jetstream(nc), names.statusBucket, opts.sweep, opts.scope);
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
