/**
 * The Dockerfile read as text (the container test builds only the portable target; the cuda target needs a
 * registry): both targets exist, run as the non-root user, smoke-check `worker --help` at build time; the cuda
 * base and tfjs-node-gpu match what libtensorflow 2.9.1 was built for; downloads fail loudly at their own step.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const text = Deno.readTextFileSync(`${ROOT}Dockerfile`);
// Logical instructions: continuation lines joined, comments dropped.
const instructions = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) =>
  l !== "" && !l.startsWith("#")
);

/** The instructions of each stage, by stage name. */
function stages(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of instructions) {
    const from = line.match(/^FROM\s+\S+\s+AS\s+(\S+)$/i);
    if (from) {
      current = [];
      out.set(from[1], current);
    } else if (current) {
      current.push(line);
    }
  }
  return out;
}

function arg(name: string): string {
  const line = instructions.find((l) => l.startsWith(`ARG ${name}=`));
  assert.ok(line, `ARG ${name}= default`);
  return line.slice(`ARG ${name}=`.length);
}

Deno.test("Dockerfile: portable and cuda targets, non-root, worker --help at build time, worker entrypoint", () => {
  const s = stages();
  for (const target of ["portable", "cuda"]) {
    const body = s.get(target);
    assert.ok(body, `stage ${target}`);
    const user = body.findIndex((l) => l === "USER flowsweep");
    const help = body.findIndex((l) => /^RUN deno run -A --cached-only main\.ts worker --help/.test(l));
    assert.ok(user >= 0, `${target}: USER flowsweep`);
    assert.ok(help > user, `${target}: worker --help runs as the user, after USER`);
    assert.ok(body.some((l) => /^RUN .*useradd .*flowsweep/.test(l)), `${target}: creates the user`);
    assert.ok(
      body.includes('ENTRYPOINT ["deno", "run", "-A", "--cached-only", "main.ts", "worker"]'),
      `${target}: entrypoint`,
    );
  }
  // `docker build .` without --target gives the portable image: it is the last stage.
  assert.equal([...s.keys()].at(-1), "portable");
  // The shared app stage installs exactly what deno.lock pins.
  assert.ok(s.get("app")!.some((l) => /deno install --frozen/.test(l)), "deno install --frozen");
});

Deno.test("Dockerfile: the cuda base and tfjs-node-gpu agree with libtensorflow 2.9.1 (CUDA 11.2, cuDNN 8.1)", () => {
  assert.match(arg("CUDA_IMAGE"), /nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/);
  const deno = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)) as { imports: Record<string, string> };
  const core = deno.imports["@tensorflow/tfjs-core"].match(/@(\d+\.\d+\.\d+)$/)![1];
  assert.equal(arg("TFJS_VERSION"), core, "tfjs-node-gpu is the same release as the project's tfjs-core");
  assert.equal(
    core,
    "4.22.0",
    "docs/cluster.md's CUDA 11.2 / cuDNN 8.1 reading is for tfjs 4.22 (libtensorflow 2.9.1)",
  );
  const cuda = stages().get("cuda")!;
  assert.ok(cuda.some((l) => l.includes("libcudnn.so.8") && l.includes("libcudart.so.11.0")), "soname check");
  assert.ok(
    cuda.some((l) => l.includes("ln -sfn /opt/tfjs/node_modules/@tensorflow/tfjs-node-gpu")),
    "alias",
  );
  assert.ok(
    stages().get("portable")!.some((l) => l.includes("NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics")),
  );
});

Deno.test("Dockerfile: every download fails at its own step (curl -f, no pipes into a shell)", () => {
  const runs = instructions.filter((l) => l.startsWith("RUN "));
  // invocations only (`curl -…`), not the package name in apt-get install
  const curls = runs.flatMap((l) => l.match(/\bcurl\s+-[^&;|]*/g) ?? []);
  assert.ok(curls.length >= 3, curls.join("\n"));
  for (const c of curls) assert.match(c, /\s-f\S*\s/, `curl without -f: ${c}`);
  for (const r of runs) {
    assert.doesNotMatch(r, /\|\s*(ba)?sh\b/, `piped into a shell: ${r}`);
    assert.doesNotMatch(r, /curl [^&;]*\|/, `curl piped (a failed download would be hidden): ${r}`);
  }
  // The Deno binary comes from npm, pinned.
  assert.match(arg("DENO_VERSION"), /^\d+\.\d+\.\d+$/);
  assert.ok(
    runs.some((l) => l.includes("@deno/linux-${arch}-glibc/-/linux-${arch}-glibc-${DENO_VERSION}.tgz")),
  );
});
