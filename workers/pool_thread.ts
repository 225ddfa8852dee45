/**
 * Entry of one worker thread (a Deno Web Worker owned by a slot of workers/lease.ts `threadRunner`). Runs one
 * job at a time with `executeJob` and reports progress and the outcome by message (`ToThread`/`FromThread` in
 * workers/lease.ts). Artifact reads and writes go to the owning thread, which holds the store.
 */
import { type ExecuteContext, executeJob, TransientError } from "./execute.ts";
import type { ArtifactStore } from "../transport/types.ts";
import type { FromThread, ToThread } from "./lease.ts";

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(msg: unknown): void;
}
const scope = globalThis as unknown as Scope;
const post = (m: FromThread) => scope.postMessage(m);
let current: AbortController | null = null;
const pending = new Map<
  number,
  { resolve: (d: Uint8Array | null | undefined) => void; reject: (e: Error) => void }
>();
let nextId = 1;

function ask(op: "get" | "put", key: string, data?: Uint8Array): Promise<Uint8Array | null | undefined> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    post({ type: "artifact", id, op, key, data });
  });
}

/** The owning thread's artifact store, by message. */
const remoteArtifacts: ArtifactStore = {
  get: async (key) => (await ask("get", key)) ?? null,
  put: async (key, data) => {
    await ask("put", key, data);
  },
};

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as ToThread;
  if (msg.type === "abort") {
    current?.abort(new Error("cancelled"));
    return;
  }
  if (msg.type === "artifact-reply") {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error !== undefined) p?.reject(new TransientError(`artifact store: ${msg.error}`));
    else p?.resolve(msg.data);
    return;
  }
  const ac = new AbortController();
  current = ac;
  try {
    const ctx: ExecuteContext = {
      signal: ac.signal,
      backend: msg.backend,
      onProgress: (record) => post({ type: "progress", record }),
    };
    if (msg.artifacts) ctx.artifacts = remoteArtifacts;
    const final = await executeJob(msg.job, ctx);
    post({ type: "done", final });
  } catch (err) {
    post({
      type: "error",
      message: (err instanceof Error ? err.message : String(err)).split("\n")[0],
      transient: err instanceof TransientError,
    });
  } finally {
    current = null;
  }
};
