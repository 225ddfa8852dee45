/**
 * Layout of a run directory:
 *
 *   RUN_DIR/results.sqlite   results store (coordinator/store.ts)
 *   RUN_DIR/spec.yaml        the spec text the sweep was started with
 *   RUN_DIR/artifacts/       local artifact store: `<job id>/<name>` → file (embedded mode)
 *   RUN_DIR/report/          tables.md, CSV, LaTeX, plots, index.html (report/)
 */
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
