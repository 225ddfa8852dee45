/**
 * Entry of one local worker thread (a Deno Web Worker started by workers/pool.ts). Runs one job at a time
 * with `executeJob` and reports progress and the outcome by message.
 *
 * main → thread: { type: "run", job, backend } | { type: "abort" }
 * thread → main: { type: "progress", record } | { type: "done", final } | { type: "error", message }
 */
import { executeJob } from "./execute.ts";
import type { Job } from "../transport/types.ts";

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(msg: unknown): void;
}
const scope = globalThis as unknown as Scope;
let current: AbortController | null = null;

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as { type: "run"; job: Job; backend?: string } | { type: "abort" };
  if (msg.type === "abort") {
    current?.abort(new Error("cancelled"));
    return;
  }
  const ac = new AbortController();
  current = ac;
  try {
    const final = await executeJob(msg.job, {
      signal: ac.signal,
      backend: msg.backend,
      onProgress: (record) => scope.postMessage({ type: "progress", record }),
    });
    scope.postMessage({ type: "done", final });
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  } finally {
    current = null;
  }
};
