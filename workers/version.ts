/**
 * The code version recorded with every result (issue 10 item 2): a content hash of the engine — every
 * TypeScript file under core/, backends/ and workers/, plus deno.json (the pinned dependencies) — so a
 * result says which code computed it, with or without a git checkout (container images have none).
 * `engine-` + the first 12 hex digits of SHA-256 over the sorted (path, content) pairs.
 */
import { createHash } from "node:crypto";

const ROOT = new URL("..", import.meta.url);
const DIRS = ["core", "backends", "workers"];

function files(dir: URL, rel: string, out: string[]): void {
  for (const e of Deno.readDirSync(dir)) {
    const path = `${rel}/${e.name}`;
    if (e.isDirectory) files(new URL(`${e.name}/`, dir), path, out);
    else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
}

let cached: string | undefined;

/** The engine's content hash (computed once per process). */
export function engineVersion(): string {
  if (cached !== undefined) return cached;
  const paths: string[] = [];
  for (const d of DIRS) files(new URL(`${d}/`, ROOT), d, paths);
  paths.push("deno.json");
  paths.sort();
  const h = createHash("sha256");
  for (const p of paths) {
    h.update(p);
    h.update("\0");
    h.update(Deno.readFileSync(new URL(p, ROOT)));
    h.update("\0");
  }
  cached = `engine-${h.digest("hex").slice(0, 12)}`;
  return cached;
}
