/**
 * Fault suite: the table of bad inputs — specs, flags, run directories, results stores and connection
 * settings (two real nats-servers on free ports: one with user/password, one requiring client certificates).
 * One data-driven test: each row runs the CLI in its own copy of a fixture directory and asserts exit code 2,
 * exactly one line on stderr (matching the row's pattern), nothing on stdout, and that nothing was written:
 * the directory tree (names, sizes, contents' hashes) is the same before and after.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startNatsServer } from "./helpers/nats_server.ts";
import { MAIN, ROOT } from "./helpers/faults.ts";
import { makeCaAndServerCert, makeClientCert } from "./helpers/tls.ts";

interface Row {
  /** What is wrong, for the failure message. */
  what: string;
  /** CLI arguments; `$D` is replaced by the row's fixture directory, `$PLAIN`/`$MTLS` by the servers' URLs. */
  args: string[];
  /** Stderr must be one line matching this. */
  err: RegExp;
  /** Spec text written to `$D/bad.yaml` before the run. */
  spec?: string;
  env?: Record<string, string>;
}

const GOOD = "name: good\nkind: noop\nmatrix: {v: [1, 2]}\n";
const bigGrid = () =>
  `name: huge\nkind: noop\nmatrix:\n  a: [${Array.from({ length: 300 }, (_, i) => i).join(", ")}]\n` +
  `  b: [${Array.from({ length: 300 }, (_, i) => i).join(", ")}]\n` +
  `  c: [${Array.from({ length: 100 }, (_, i) => i).join(", ")}]\n`;
const SWEEP = (...more: string[]) => ["sweep", "$D/bad.yaml", "--run-dir", "$D/new", "--no-report", ...more];
const GOOD_SWEEP = (
  ...more: string[]
) => ["sweep", "$D/good.yaml", "--run-dir", "$D/new", "--no-report", ...more];
const WORKER = (...more: string[]) => ["worker", "--nats", "$PLAIN", "--connect-timeout", "20", ...more];

const ROWS: Row[] = [
  // ---- specs: structure (file:line:col)
  { what: "YAML syntax", spec: "name: [\n", args: SWEEP(), err: /bad\.yaml:\d+:\d+: YAML/ },
  {
    what: "not a mapping",
    spec: "- a\n- b\n",
    args: SWEEP(),
    err: /bad\.yaml:1:1: a sweep spec must be a mapping/,
  },
  { what: "no name", spec: "kind: noop\n", args: SWEEP(), err: /bad\.yaml:1:1: the spec needs a "name"/ },
  {
    what: "name with /",
    spec: "name: a/b\nkind: noop\n",
    args: SWEEP(),
    err: /bad\.yaml:1:7: name "a\/b" may only/,
  },
  {
    what: "unknown top key",
    spec: "name: x\nkind: noop\nfoo: 1\n",
    args: SWEEP(),
    err: /bad\.yaml:3:1: .*foo/,
  },
  {
    what: "duplicate key",
    spec: "name: x\nname: y\n",
    args: SWEEP(),
    err: /bad\.yaml:2:1: YAML: Map keys must be unique/,
  },
  {
    what: "unknown kind",
    spec: "name: x\nkind: magic\n",
    args: SWEEP(),
    err: /bad\.yaml:2:7: kind must be one of/,
  },
  {
    what: "empty axis",
    spec: "name: x\nmatrix:\n  beta: []\n",
    args: SWEEP(),
    err: /bad\.yaml:3:9: axis "beta"/,
  },
  {
    what: "empty matrix",
    spec: "name: x\nmatrix: {}\n",
    args: SWEEP(),
    err: /bad\.yaml:2:9: matrix must have/,
  },
  {
    what: "unknown training option",
    spec: "name: x\nbase:\n  stepz: 1\n",
    args: SWEEP(),
    err: /bad\.yaml:3:10: unknown training option "stepz" \(did you mean "steps"\?\)/,
  },
  {
    what: "alpha > 1",
    spec: "name: x\nmatrix:\n  alpha: [0, 2]\n",
    args: SWEEP(),
    err: /bad\.yaml:3:14: alpha/,
  },
  { what: "negative lr", spec: "name: x\nbase: {lr: -1}\n", args: SWEEP(), err: /bad\.yaml:2:\d+: lr/ },
  {
    what: "seeds a string",
    spec: "name: x\nseeds: two\n",
    args: SWEEP(),
    err: /bad\.yaml:2:8: seeds must be a count/,
  },
  {
    what: "seeds 0",
    spec: "name: x\nseeds: 0\n",
    args: SWEEP(),
    err: /bad\.yaml:2:8: seeds \(a count\) must be/,
  },
  {
    what: "seed twice",
    spec: "name: x\nseeds: [1, 1]\n",
    args: SWEEP(),
    err: /bad\.yaml:2:\d+: seed 1 appears twice/,
  },
  {
    what: "seed axis and seeds",
    spec: "name: x\nseeds: 2\nmatrix: {seed: [1]}\n",
    args: SWEEP(),
    err: /bad\.yaml:\d+:\d+: "seed" is an axis and "seeds" is set/,
  },
  {
    what: "max_attempts 0",
    spec: "name: x\nmax_attempts: 0\n",
    args: SWEEP(),
    err: /bad\.yaml:2:15: max_attempts/,
  },
  {
    what: "timeout negative",
    spec: "name: x\ntimeout: -1\n",
    args: SWEEP(),
    err: /bad\.yaml:2:10: timeout must be/,
  },
  {
    what: "timeout garbage",
    spec: "name: x\ntimeout: soon\n",
    args: SWEEP(),
    err: /bad\.yaml:2:10: timeout must be/,
  },
  {
    what: "stage timeout 0s",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, timeout: 0s}\n",
    args: SWEEP(),
    err: /bad\.yaml:4:24: stage "a" timeout must be/,
  },
  {
    what: "needs unknown stage",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, needs: [zz]}\n",
    args: SWEEP(),
    err: /bad\.yaml:4:\d+: stage "a" needs unknown stage "zz"/,
  },
  {
    what: "stage cycle",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, needs: [b]}\n  - {name: b, needs: [a]}\n",
    args: SWEEP(),
    err: /bad\.yaml:\d+:\d+: stages form a cycle/,
  },
  {
    what: "stage twice",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a}\n  - {name: a}\n",
    args: SWEEP(),
    err: /bad\.yaml:5:5: stage "a" is defined twice/,
  },
  {
    what: "artifact name with /",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, artifacts: [../../etc/x]}\n",
    args: SWEEP(),
    err: /bad\.yaml:4:27: artifact of stage "a": "\.\.\/\.\.\/etc\/x" is not an artifact name/,
  },
  {
    what: "artifact name ..",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, artifacts: [..]}\n",
    args: SWEEP(),
    err: /bad\.yaml:4:27: artifact of stage "a": "\.\." is not an artifact name/,
  },
  {
    what: "input artifact with /",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a, artifacts: [e]}\n" +
      "  - {name: b, needs: [a], inputs: {e: a./etc/passwd}}\n",
    args: SWEEP(),
    err: /bad\.yaml:5:39: input "e" of stage "b": "\/etc\/passwd" is not an artifact name/,
  },
  {
    what: "input not a stage.artifact",
    spec: "name: x\nkind: noop\nstages:\n  - {name: a}\n  - {name: b, needs: [a], inputs: {e: nodot}}\n",
    args: SWEEP(),
    err: /bad\.yaml:5:39: input "e" of stage "b" must name <stage>\.<artifact>/,
  },
  {
    what: "grid of 9 million",
    spec: bigGrid(),
    args: SWEEP(),
    err: /the spec's axes expand to 9,000,000 jobs/,
  },
  {
    what: "exclude matches nothing",
    spec: "name: x\nkind: noop\nmatrix: {v: [1, 2]}\nexclude: [{v: 3}]\n",
    args: SWEEP(),
    err: /bad\.yaml:4:\d+: exclude\[0\] matches no job/,
  },
  {
    what: "exclude unknown key",
    spec: "name: x\nkind: noop\nmatrix: {v: [1, 2]}\nexclude: [{w: 3}]\n",
    args: SWEEP(),
    err: /bad\.yaml:4:\d+: exclude\[0\] uses "w"/,
  },
  {
    what: "everything excluded",
    spec: "name: x\nkind: noop\nmatrix: {v: [1]}\nexclude: [{v: 1}]\n",
    args: SWEEP(),
    err: /bad\.yaml:1:1: the spec expands to no jobs/,
  },
  {
    what: "include empty",
    spec: "name: x\nkind: noop\ninclude: [{}]\n",
    args: SWEEP(),
    err: /bad\.yaml:3:\d+: include\[0\] is empty/,
  },
  {
    what: "report unknown key",
    spec: "name: x\nkind: noop\nmatrix: {v: [1]}\nreport: {rows: [zz], columns: [], metric: m}\n",
    args: SWEEP(),
    err: /bad\.yaml:4:\d+: report key "zz"/,
  },
  {
    what: "report without metric",
    spec: "name: x\nkind: noop\nreport: {rows: [v], columns: []}\n",
    args: SWEEP(),
    err: /bad\.yaml:3:9: report needs "metric"/,
  },
  {
    what: "spec file missing",
    args: ["sweep", "$D/nope.yaml", "--run-dir", "$D/new"],
    err: /cannot read spec/,
  },
  { what: "spec is a directory", args: ["sweep", "$D/dir", "--run-dir", "$D/new"], err: /cannot read spec/ },
  // ---- sweep flags
  { what: "--backend foo", args: GOOD_SWEEP("--backend", "foo"), err: /--backend must be one of/ },
  { what: '--nats ""', args: GOOD_SWEEP("--nats", ""), err: /--nats needs a server URL/ },
  {
    what: "--run-dir ''",
    args: ["sweep", "$D/good.yaml", "--run-dir", ""],
    err: /--run-dir must not be empty/,
  },
  {
    what: "--run-dir a file",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/file.txt"],
    err: /--run-dir .*file\.txt is a file, not a directory/,
  },
  {
    what: "--run-dir under a file",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/file.txt/sub"],
    err: /--run-dir .*file\.txt is a file, not a directory/,
  },
  {
    what: "--run-dir unwritable",
    args: ["sweep", "$D/good.yaml", "--run-dir", "/proc/flowsweep/run"],
    err: /--run-dir \/proc\/flowsweep\/run: \/proc is not writable/,
  },
  { what: "--workers 0", args: GOOD_SWEEP("--workers", "0"), err: /--workers must be a positive integer/ },
  { what: "--workers -1", args: GOOD_SWEEP("--workers", "-1"), err: /--workers must be a positive integer/ },
  { what: "--workers abc", args: GOOD_SWEEP("--workers", "abc"), err: /--workers must be a number/ },
  { what: "--progress weird", args: GOOD_SWEEP("--progress", "weird"), err: /--progress must be one of/ },
  {
    what: "--resume with --rerun-failed",
    args: GOOD_SWEEP("--resume", "--rerun-failed"),
    err: /use either --resume or --rerun-failed/,
  },
  { what: "--rerun-failed, no run", args: GOOD_SWEEP("--rerun-failed"), err: /holds no sweep to re-run/ },
  {
    what: "existing run, no --resume",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/run"],
    err: /already holds a sweep; pass --resume/,
  },
  { what: "unknown flag", args: GOOD_SWEEP("--frobnicate"), err: /unknown option '--frobnicate'/ },
  {
    what: "--nats http://",
    args: GOOD_SWEEP("--nats", "http://127.0.0.1:4222"),
    err: /scheme http:\/\/ is not/,
  },
  { what: "--nats garbage", args: GOOD_SWEEP("--nats", "::::"), err: /"::::" is not a server URL/ },
  {
    what: "--nats unreachable",
    args: GOOD_SWEEP("--nats", "nats://127.0.0.1:1", "--connect-timeout", "1"),
    err: /cannot reach NATS at nats:\/\/127\.0\.0\.1:1 within 1 s/,
  },
  {
    what: "--connect-timeout 0",
    args: GOOD_SWEEP("--nats", "nats://127.0.0.1:1", "--connect-timeout", "0"),
    err: /--connect-timeout must be a positive number/,
  },
  // ---- connection settings against real brokers
  {
    what: "wrong password",
    args: GOOD_SWEEP("--nats", "$PLAIN", "--user", "u", "--password", "nope"),
    err: /NATS at nats:\/\/127\.0\.0\.1:\d+ refused the credentials \(Authorization Violation\)/,
  },
  {
    what: "wrong password from env",
    args: GOOD_SWEEP("--nats", "$PLAIN"),
    env: { NATS_USER: "u", NATS_PASSWORD: "nope-env" },
    err: /refused the credentials/,
  },
  { what: "no credentials", args: WORKER(), err: /refused the credentials/ },
  { what: "wrong token", args: WORKER("--token", "t"), err: /refused the credentials/ },
  {
    what: "wrong token from file",
    args: WORKER("--token-file", "$D/token.txt"),
    err: /refused the credentials/,
  },
  {
    what: "--tls-ca on a plain broker",
    args: WORKER("--user", "u", "--password", "p", "--tls-ca", "$D/ca.pem"),
    err: /TLS with NATS at .* failed: server does not support 'tls'/,
  },
  {
    what: "TLS broker without its CA",
    args: ["worker", "--nats", "$MTLS", "--connect-timeout", "20"],
    err: /TLS with NATS at tls:\/\/127\.0\.0\.1:\d+ failed/,
  },
  {
    what: "mTLS without a client certificate",
    args: ["worker", "--nats", "$MTLS", "--tls-ca", "$D/ca.pem", "--connect-timeout", "20"],
    err: /TLS with NATS at tls:\/\/127\.0\.0\.1:\d+ failed: .*(BadCertificate|client certificate)/,
  },
  { what: "--user without password", args: WORKER("--user", "u"), err: /--user and --password go together/ },
  {
    what: "--token and --token-file",
    args: WORKER("--token", "a", "--token-file", "$D/token.txt"),
    err: /use either --token or --token-file/,
  },
  {
    what: "--token-file missing",
    args: WORKER("--token-file", "$D/none.txt"),
    err: /cannot read --token-file/,
  },
  {
    what: "--password-file empty",
    args: WORKER("--user", "u", "--password-file", "$D/empty.txt"),
    err: /--password-file .*empty\.txt is empty/,
  },
  {
    what: "--tls-cert without key",
    args: WORKER("--tls-cert", "$D/ca.pem"),
    err: /--tls-cert and --tls-key go/,
  },
  { what: "--creds missing", args: WORKER("--creds", "$D/none.creds"), err: /cannot read --creds/ },
  { what: "two auth methods", args: WORKER("--token", "a", "--creds", "$D/ca.pem"), err: /use only one of/ },
  // ---- worker flags
  {
    what: "worker --concurrency 0",
    args: WORKER("--concurrency", "0"),
    err: /--concurrency must be a positive/,
  },
  { what: "worker --backend foo", args: WORKER("--backend", "foo"), err: /--backend must be one of/ },
  { what: 'worker --nats ""', args: ["worker", "--nats", ""], err: /--nats needs a server URL/ },
  {
    what: "worker --ack-wait x",
    args: WORKER("--ack-wait", "x"),
    err: /--ack-wait must be a positive number/,
  },
  {
    what: "worker --max-attempts 0",
    args: WORKER("--max-attempts", "0"),
    err: /--max-attempts must be a positive/,
  },
  { what: "worker without --nats", args: ["worker"], err: /required option '--nats <url>'/ },
  // ---- results stores and run directories
  {
    what: "status: truncated store",
    args: ["status", "$D/truncated"],
    err: /truncated\/results\.sqlite is unread/,
  },
  { what: "status --json: truncated", args: ["status", "$D/truncated", "--json"], err: /is unreadable/ },
  {
    what: "status: garbage store",
    args: ["status", "$D/garbage"],
    err: /unreadable: file is not a database/,
  },
  { what: "status --json: garbage", args: ["status", "$D/garbage", "--json"], err: /file is not a database/ },
  { what: "status: wrong schema", args: ["status", "$D/schema", "--json"], err: /wrong schema|no \w+ table/ },
  {
    what: "status: empty store file",
    args: ["status", "$D/empty", "--json"],
    err: /not a flowsweep results store/,
  },
  { what: "status: no store", args: ["status", "$D/dir"], err: /holds no sweep \(no results\.sqlite\)/ },
  { what: "status: no such dir", args: ["status", "$D/nope"], err: /holds no sweep/ },
  { what: "status: a file", args: ["status", "$D/file.txt"], err: /holds no sweep/ },
  { what: 'status --nats ""', args: ["status", "--nats", "", "x"], err: /--nats needs a server URL/ },
  {
    what: "status --nats unreachable",
    args: ["status", "--nats", "nats://127.0.0.1:1", "--connect-timeout", "1", "x", "--json"],
    err: /cannot reach NATS/,
  },
  {
    what: "status --nats wrong password",
    args: ["status", "--nats", "$PLAIN", "--user", "u", "--password", "nope", "x", "--json"],
    err: /refused the credentials/,
  },
  {
    what: "resume on a garbage store",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/garbage", "--resume"],
    err: /garbage\/results\.sqlite is unreadable: file is not a database/,
  },
  {
    what: "resume on a truncated store",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/truncated", "--resume"],
    err: /truncated\/results\.sqlite is unreadable/,
  },
  {
    what: "dry run on a garbage store",
    args: ["sweep", "$D/good.yaml", "--run-dir", "$D/garbage", "--dry-run"],
    err: /is unreadable: file is not a database/,
  },
  { what: "report on a garbage store", args: ["report", "$D/garbage"], err: /file is not a database/ },
  { what: "report on no store", args: ["report", "$D/dir"], err: /no results store at/ },
  {
    what: "resume another sweep's run",
    spec: "name: other\nkind: noop\n",
    args: ["sweep", "$D/bad.yaml", "--run-dir", "$D/run", "--resume"],
    err: /holds sweep "good", not "other"/,
  },
];

// ------------------------------------------------------------------ fixture

/** Everything a row may find: a finished run, damaged stores, a CA and server/client certificates. */
async function makeFixture(dir: string) {
  await Deno.writeTextFile(`${dir}/good.yaml`, GOOD);
  await Deno.writeTextFile(`${dir}/file.txt`, "not a directory\n");
  await Deno.writeTextFile(`${dir}/token.txt`, "not-the-token\n");
  await Deno.writeTextFile(`${dir}/empty.txt`, "");
  await Deno.mkdir(`${dir}/dir`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "sweep", `${dir}/good.yaml`, "--run-dir", `${dir}/run`, "--progress", "none"],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const store = await Deno.readFile(`${dir}/run/results.sqlite`);
  for (const d of ["truncated", "garbage", "schema", "empty"]) await Deno.mkdir(`${dir}/${d}`);
  await Deno.writeFile(`${dir}/truncated/results.sqlite`, store.slice(0, Math.floor(store.length / 2)));
  await Deno.writeFile(`${dir}/garbage/results.sqlite`, new TextEncoder().encode("garbage ".repeat(512)));
  await Deno.writeFile(`${dir}/empty/results.sqlite`, new Uint8Array(0));
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(`${dir}/schema/results.sqlite`);
  db.exec(
    "CREATE TABLE jobs (x TEXT); CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO jobs VALUES ('a')",
  );
  db.close();
  // A CA, a server certificate for 127.0.0.1 (the mTLS broker); no client certificate is ever made.
  await makeCaAndServerCert(dir);
}

/** name → size and content hash of every file under `dir` (directories too, as "dir"). */
async function tree(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(`${dir}${prefix}`)) {
    const rel = `${prefix}/${e.name}`;
    if (e.isDirectory) {
      out.set(rel, "dir");
      for (const [k, v] of await tree(dir, rel)) out.set(k, v);
    } else if (e.isFile) {
      const data = await Deno.readFile(`${dir}${rel}`);
      out.set(rel, `${data.length} ${createHash("sha256").update(data).digest("hex").slice(0, 16)}`);
    }
  }
  return out;
}

async function copyTree(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test("faults: bad inputs — exit 2, one line on stderr, nothing on stdout, nothing written", async () => {
  assert.ok(ROWS.length >= 60, `${ROWS.length} rows`);
  const base = await Deno.makeTempDir({ prefix: "flowsweep-bad-inputs-" });
  const fixture = `${base}/fixture`;
  await Deno.mkdir(fixture);
  await makeFixture(fixture);
  await makeClientCert(base, fixture, "probe"); // for the broker's readiness probe only (outside the rows' directories)
  const plain = await startNatsServer({
    args: ["--user", "u", "--pass", "p"],
    connect: { user: "u", pass: "p" },
  });
  const mtls = await startNatsServer({
    args: [
      "--tls",
      "--tlscert",
      `${fixture}/server.pem`,
      "--tlskey",
      `${fixture}/server.key`,
      "--tlscacert",
      `${fixture}/ca.pem`,
      "--tlsverify",
    ],
    scheme: "tls",
    connect: {
      tls: { caFile: `${fixture}/ca.pem`, certFile: `${base}/client.pem`, keyFile: `${base}/client.key` },
    },
  });
  const failures: string[] = [];
  try {
    let next = 0;
    const runRow = async (i: number) => {
      const row = ROWS[i];
      const d = `${base}/row${i}`;
      await copyTree(fixture, d);
      if (row.spec !== undefined) await Deno.writeTextFile(`${d}/bad.yaml`, row.spec);
      const before = await tree(d);
      const sub = (a: string) =>
        a.replaceAll("$D", d).replaceAll("$PLAIN", plain.url).replaceAll("$MTLS", mtls.url);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, ...row.args.map(sub)],
        cwd: d, // a relative default run directory would land here, and be seen
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1", NATS_TOKEN: "", NATS_USER: "", NATS_PASSWORD: "", ...row.env },
      }).output();
      // Deno's own notice when another deno process holds node_modules (the suite runs in parallel) is not ours.
      const stderr = new TextDecoder().decode(out.stderr).split("\n")
        .filter((l) => !l.startsWith("Blocking waiting for file lock")).join("\n").trim();
      const stdout = new TextDecoder().decode(out.stdout).trim();
      const after = await tree(d);
      const problems: string[] = [];
      if (out.code !== 2) problems.push(`exit ${out.code}`);
      if (stderr.split("\n").length !== 1) problems.push(`${stderr.split("\n").length} lines on stderr`);
      if (!row.err.test(stderr)) problems.push(`stderr does not match ${row.err}`);
      if (!stderr.startsWith("error: ")) problems.push("stderr does not start with error:");
      if (stdout !== "") problems.push(`stdout: ${stdout.slice(0, 200)}`);
      const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) =>
        before.get(k) !== after.get(k)
      );
      if (changed.length) problems.push(`written: ${changed.join(", ")}`);
      if (problems.length) failures.push(`[${i}] ${row.what}: ${problems.join("; ")}\n    stderr: ${stderr}`);
      await Deno.remove(d, { recursive: true });
    };
    const lane = async () => {
      while (next < ROWS.length) await runRow(next++);
    };
    await Promise.all([lane(), lane(), lane()]);
    console.log(`bad inputs: ${ROWS.length} tried, ${failures.length} failed`);
    assert.deepEqual(failures, []);
  } finally {
    await plain.stop();
    await mtls.stop();
    await Deno.remove(base, { recursive: true });
  }
});
