/**
 * Layout of a run directory:
 *
 *   RUN_DIR/results.sqlite   results store (coordinator/store.ts)
 *   RUN_DIR/spec.yaml        the spec text the sweep was started with
 *   RUN_DIR/artifacts/       local artifact store: `<job id>/<name>` → file (embedded mode)
 *   RUN_DIR/report/          tables.md, CSV, LaTeX, plots, index.html (report/)
 */
import type { ArtifactStore } from "../transport/types.ts";
import { STORE_FILE } from "./store.ts";

export function runPaths(runDir: string) {
  const d = runDir.replace(/\/+$/, "") || ".";
  return {
    dir: d,
    store: `${d}/${STORE_FILE}`,
    spec: `${d}/spec.yaml`,
    artifacts: `${d}/artifacts`,
    report: `${d}/report`,
  };
}

/** Default run directory of a sweep. */
export function defaultRunDir(name: string): string {
  return `runs/${name}`;
}

/** True when `runDir` already holds a results store. */
export function hasStore(runDir: string): boolean {
  try {
    return Deno.statSync(runPaths(runDir).store).isFile;
  } catch {
    return false;
  }
}

/** Artifacts as files under a directory; keys are relative paths (`<job id>/<name>`). */
export class DirArtifactStore implements ArtifactStore {
  constructor(readonly dir: string) {}

  #path(key: string): string {
    if (key.split("/").some((p) => p === "" || p === "." || p === "..")) {
      throw new Error(`bad artifact key "${key}"`);
    }
    return `${this.dir}/${key}`;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const p = this.#path(key);
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    const tmp = `${p}.tmp-${crypto.randomUUID()}`;
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, p);
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return await Deno.readFile(this.#path(key));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }
}
