/** Classifying JetStream errors, and retrying while the broker is away. */
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; name?: string };
  // 10059 stream not found, 10014 consumer not found, 10037 no message found
  return e?.code === 10059 || e?.code === 10014 || e?.code === 10037 ||
    /not found/i.test(String(e?.message ?? ""));
}

/** Errors worth retrying: no answer (timeouts, no responders while reconnecting), JetStream unavailable. */
export function isTransient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 10008; // JetStream temporarily unavailable
  return true;
}

export function isConflict(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e?.code === 10071 || e?.code === 10164 || /wrong last sequence/i.test(String(e?.message ?? ""));
}

/**
 * Retries `fn` while the broker is unreachable (reconnecting, timeouts), up to `deadlineMs`. Revision
 * conflicts and not-found answers are real answers and are rethrown at once.
 */
export async function retryTransient<T>(
  nc: NatsConnection,
  fn: () => Promise<T>,
  deadlineMs = 120_000,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let wait = 100;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || nc.isClosed() || Date.now() > end) throw err;
      await sleep(wait);
      wait = Math.min(wait * 2, 1000);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
