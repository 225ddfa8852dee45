/**
 * The local artifact store: artifacts as files under a directory (embedded mode: RUN_DIR/artifacts). The
 * cluster's store is the NATS object store (transport/nats/artifacts.ts); both implement `ArtifactStore`.
 */
import type { ArtifactStore } from "./types.ts";

/** Artifacts as files under a directory; keys are relative paths `<job id>/<name>`, never `..` or absolute. */
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
