/**
 * Entry of one local worker thread (a Deno Web Worker started by workers/pool.ts). Runs one job at a time
 * with `executeJob` and reports progress and the outcome by message.
 *
 * main → thread: { type: "run", job, backend, artifactsDir } | { type: "abort" }
 * With `artifactsDir`, the job's context also carries `artifacts`: a DirArtifactStore over that directory
 * (energy checkpoints passed between stages under keys `<job id>/<name>`).
 * thread → main: { type: "progress", record } | { type: "done", final } | { type: "error", message }
 */
import { type ExecuteContext, executeJob } from "./execute.ts";
import { DirArtifactStore } from "../coordinator/rundir.ts";
import type { Job } from "../core/sweep/job.ts";

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(msg: unknown): void;
}
const scope = globalThis as unknown as Scope;
let current: AbortController | null = null;

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as { type: "run"; job: Job; backend?: string; artifactsDir?: string } | {
    type: "abort";
  };
  if (msg.type === "abort") {
    current?.abort(new Error("cancelled"));
    return;
  }
  const ac = new AbortController();
  current = ac;
  try {
    const ctx: ExecuteContext & { artifacts?: DirArtifactStore } = {
      signal: ac.signal,
      backend: msg.backend,
      onProgress: (record) => scope.postMessage({ type: "progress", record }),
    };
    if (msg.artifactsDir) ctx.artifacts = new DirArtifactStore(msg.artifactsDir);
    const final = await executeJob(msg.job, ctx);
    scope.postMessage({ type: "done", final });
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  } finally {
    current = null;
  }
};
