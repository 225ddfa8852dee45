/**
 * Seed groups (spec `seed_batch: K`, docs/spec.md §"Seed batching"): train jobs that differ only by their seed
 * run as one execution unit of ≤ K seeds — on a device backend one K-seed program (backends/device/engine.ts) —
 * and are stored as K separate job records under exactly the ids the separate jobs have.
 *
 * A unit is itself a `Job`, so every queue carries, leases, retries and dedupes it like any job: its config is
 * the members' shared config without `seed`, plus `seed_group: [s₁, …, s_K]`, and its id is the hash of that
 * (`jobId`), so a worker checks it like any job. The members follow from the unit alone (`groupMembers`): member
 * k's config is the shared config with `seed: s_k`, its id `jobId(kind, config, inputs)`.
 *
 * While a unit runs, each metric record carries the member's id in `seed_job`; its final metrics are
 * `{ seed_jobs: { <member id>: { final } | { error } } }` (one member can diverge while the others finish).
 * The coordinator turns a unit's events into its members' (`memberEvents`). Pure.
 */
import type { Job, MetricRecord } from "./job.ts";
import { jobId } from "./expand.ts";
import { canonicalJson } from "../canonical.ts";

/** The config key of a unit that lists its seeds. */
export const SEED_GROUP_KEY = "seed_group";
/** The metric-record key naming the member a record of a unit belongs to. */
export const SEED_JOB_KEY = "seed_job";

export function isSeedGroup(job: Pick<Job, "config">): boolean {
  return Array.isArray(job.config[SEED_GROUP_KEY]);
}

/** The key jobs must share to be grouped: everything but the seed (and the id). */
function groupKey(job: Job): string | null {
  if (job.kind !== "train" || !Number.isInteger(job.config.seed) || isSeedGroup(job)) return null;
  const { seed: _seed, ...rest } = job.config;
  return canonicalJson({
    sweep: job.sweep,
    stage: job.stage,
    kind: job.kind,
    rest,
    inputs: job.inputs ?? {},
  });
}

/** The unit of `members` (same config but the seed; at least 2). */
export function seedGroupJob(members: readonly Job[]): Job {
  const first = members[0];
  const { seed: _seed, ...rest } = first.config;
  const config = { ...rest, [SEED_GROUP_KEY]: members.map((m) => m.config.seed as number) };
  const unit: Job = {
    id: jobId(first.kind, config, first.inputs),
    sweep: first.sweep,
    stage: first.stage,
    kind: first.kind,
    config,
  };
  if (first.inputs) unit.inputs = first.inputs;
  // One attempt of the unit runs every member: its time limit is theirs together (a CPU worker runs them one
  // after the other); the attempts bound is the members' (the same for every member of a stage).
  const timeouts = members.map((m) => m.limits?.timeout_s);
  const maxAttempts = members.map((m) => m.limits?.max_attempts).filter((a) => a !== undefined);
  if (timeouts.every((t) => t !== undefined) || maxAttempts.length) {
    unit.limits = {};
    if (timeouts.every((t) => t !== undefined)) {
      unit.limits.timeout_s = timeouts.reduce((a, b) => a! + b!, 0);
    }
    if (maxAttempts.length) unit.limits.max_attempts = Math.max(...(maxAttempts as number[]));
  }
  return unit;
}

/** A unit's members: each seed's config and id, in the unit's seed order. */
export function groupMembers(unit: Job): { seed: number; id: string; config: Record<string, unknown> }[] {
  const seeds = unit.config[SEED_GROUP_KEY];
  if (!Array.isArray(seeds)) throw new Error(`job ${unit.id} is not a seed group`);
  const { [SEED_GROUP_KEY]: _g, ...rest } = unit.config;
  return seeds.map((seed) => {
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed group ${unit.id}: bad seed ${seed}`);
    const config = { ...rest, seed };
    return { seed, id: jobId(unit.kind, config, unit.inputs), config };
  });
}

/**
 * Jobs as the queue should get them with `seed_batch: K`: train jobs that differ only by seed are grouped, in
 * their order, into units of ≤ K (a unit of one stays the plain job); everything else passes through. Returns
 * the jobs to publish and each unit's members. Deterministic: the same jobs give the same units (a resumed run
 * finds its units again by id).
 */
export function groupSeeds(
  jobs: readonly Job[],
  K: number,
): { publish: Job[]; units: Map<string, Job[]> } {
  const units = new Map<string, Job[]>();
  if (K <= 1) return { publish: [...jobs], units };
  const byKey = new Map<string, Job[]>();
  const order: (Job | string)[] = [];
  for (const job of jobs) {
    const key = groupKey(job);
    if (key === null) {
      order.push(job);
      continue;
    }
    let l = byKey.get(key);
    if (!l) (byKey.set(key, l = []), order.push(key));
    l.push(job);
  }
  const publish: Job[] = [];
  for (const item of order) {
    if (typeof item !== "string") {
      publish.push(item);
      continue;
    }
    const list = byKey.get(item)!;
    for (let i = 0; i < list.length; i += K) {
      const chunk = list.slice(i, i + K);
      if (chunk.length === 1) {
        publish.push(chunk[0]);
        continue;
      }
      const unit = seedGroupJob(chunk);
      units.set(unit.id, chunk);
      publish.push(unit);
    }
  }
  return { publish, units };
}

/** One member's outcome in a unit's final metrics. */
export type MemberOutcome = { final: MetricRecord; error?: undefined } | { error: string; final?: undefined };

/** A unit's final metrics from its members' outcomes (by member id). */
export function packGroupFinal(outcomes: Record<string, MemberOutcome>): MetricRecord {
  return { seed_jobs: outcomes } as unknown as MetricRecord;
}

/** The members' outcomes in a unit's final metrics, or null when it holds none. */
export function unpackGroupFinal(final: MetricRecord | undefined): Record<string, MemberOutcome> | null {
  const v = (final as Record<string, unknown> | undefined)?.seed_jobs;
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, MemberOutcome> : null;
}
