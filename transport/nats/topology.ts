/** Creating (or checking) the streams, the shared consumer and the buckets. */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { ms2ns, type NatsSettings, resolve } from "./names.ts";
import { isNotFound } from "./retry.ts";

/**
 * Creates (or checks) the streams, the shared consumer, the status bucket and the object store. Idempotent;
 * an existing consumer keeps its settings (the first creator wins). Returns the consumer's effective
 * ack wait and max attempts.
 */
export async function ensureNatsTopology(
  nc: NatsConnection,
  settings: NatsSettings = {},
): Promise<{ ackWaitMs: number; maxAttempts: number }> {
  const r = resolve(settings);
  const { names } = r;
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, {
    name: names.jobsStream,
    subjects: [`${names.prefix}.jobs.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: ms2ns(r.duplicateWindowMs),
  });
  await ensureStream(jsm, {
    name: names.eventsStream,
    subjects: [`${names.prefix}.events.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: ms2ns(r.duplicateWindowMs),
  });
  let info;
  try {
    info = await jsm.consumers.info(names.jobsStream, names.consumer);
    // A publisher that allows more attempts than the shared consumer delivers raises its max_deliver.
    const md = info.config.max_deliver ?? -1;
    if (settings.maxAttempts !== undefined && md !== -1 && md < settings.maxAttempts + 1) {
      info = await jsm.consumers.update(names.jobsStream, names.consumer, {
        max_deliver: settings.maxAttempts + 1,
      });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      info = await jsm.consumers.add(names.jobsStream, {
        durable_name: names.consumer,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ms2ns(r.ackWaitMs),
        max_deliver: r.maxAttempts + 1,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${names.prefix}.jobs.>`,
        max_ack_pending: 10_000,
      });
    } catch (err2) {
      // another process created it meanwhile
      info = await jsm.consumers.info(names.jobsStream, names.consumer).catch(() => {
        throw err2;
      });
    }
  }
  const js = jetstream(nc);
  await new Kvm(js).create(names.statusBucket, { history: 5, storage: StorageType.File });
  await new Objm(js).create(names.artifactBucket, { storage: StorageType.File });
  const maxDeliver = info.config.max_deliver ?? -1;
  return {
    ackWaitMs: Math.round((info.config.ack_wait ?? ms2ns(r.ackWaitMs)) / 1_000_000),
    maxAttempts: maxDeliver > 1 ? maxDeliver - 1 : r.maxAttempts,
  };
}

async function ensureStream(
  jsm: JetStreamManager,
  cfg: {
    name: string;
    subjects: string[];
    retention: RetentionPolicy;
    storage: StorageType;
    duplicate_window: number;
  },
): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add(cfg);
  } catch (err) {
    // created concurrently by another process
    await jsm.streams.info(cfg.name).catch(() => {
      throw err;
    });
  }
}
