/**
 * The import graph of the repository's own modules (static `import … from` / `export … from` and dynamic
 * `import("…")` of relative paths): no module imports itself through a circle, and core/ — the pure domain —
 * imports nothing outside core/ (the pure packages zod, yaml and node:crypto excepted: schema validation, YAML
 * parsing, SHA-256).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const DIRS = ["core", "cli", "coordinator", "workers", "transport", "report", "backends", "bench"];
/**
 * Packages core/ may use: pure, without I/O (zod: the config schema; yaml: parsing spec text; node:crypto: SHA-256
 * of job ids, core/sha256.ts).
 */
const CORE_PACKAGES = new Set(["zod", "yaml", "node:crypto"]);

async function tsFiles(dir: URL, rel: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${rel}/${e.name}`;
    if (e.isDirectory) await tsFiles(new URL(`${e.name}/`, dir), path, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(path.slice(1));
  }
}

/** Specifiers imported by a module's source (static, re-export, dynamic; type-only ones included). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|[\s;])(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm;
  for (const m of source.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function resolve(from: string, spec: string): string {
  const base = from.split("/").slice(0, -1);
  for (const part of spec.split("/")) {
    if (part === ".") continue;
    if (part === "..") base.pop();
    else base.push(part);
  }
  return base.join("/");
}

const files: string[] = [];
for (const d of DIRS) await tsFiles(new URL(`${d}/`, ROOT), `/${d}`, files);
files.push("main.ts", "mod.ts");
const graph = new Map<string, string[]>();
const external = new Map<string, string[]>();
for (const f of files) {
  const src = await Deno.readTextFile(new URL(f, ROOT));
  const specs = importsOf(src);
  graph.set(f, specs.filter((s) => s.startsWith(".")).map((s) => resolve(f, s)));
  external.set(f, specs.filter((s) => !s.startsWith(".")));
}

Deno.test("import graph: the parser sees static, type-only, re-export and dynamic imports", () => {
  const src =
    'import { a } from "./a.ts";\nimport type { B } from "../b.ts";\nexport { c } from "./c.ts";\n' +
    'const m = await import("./d.ts");\nimport "./e.ts";\n';
  assert.deepEqual(importsOf(src).sort(), ["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./e.ts"]);
  assert.ok(graph.size > 100, `${graph.size} modules`);
});

Deno.test("import graph: core/ imports nothing outside core/ (except the pure npm packages it declares)", () => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    if (!f.startsWith("core/")) continue;
    for (const d of deps) if (!d.startsWith("core/")) bad.push(`${f} → ${d}`);
    for (const p of external.get(f)!) if (!CORE_PACKAGES.has(p)) bad.push(`${f} → ${p}`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("import graph: the lower layers of core/ import neither the config hub nor the sweep domain", () => {
  // nn, gfn, tasks, energy, eval, objectives, baselines: the engine's parts, configured by values, not by a config
  const lower = /^core\/(nn|gfn|tasks|energy|eval|objectives|baselines)\//;
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    if (!lower.test(f)) continue;
    for (const d of deps) {
      if (d.startsWith("core/train/") || d.startsWith("core/sweep/")) bad.push(`${f} → ${d}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("import graph: no circles", () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(" → "));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
