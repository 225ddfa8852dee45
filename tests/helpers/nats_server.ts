/**
 * Starts a real nats-server with JetStream on a free port and a temporary store directory, for tests and
 * benchmarks. `restart()` stops it and starts it again on the same port with the same store, so streams,
 * consumers and KV buckets survive (a broker restart as a cluster would see it).
 *
 * The binary is `$NATS_SERVER`, else `nats-server` on PATH, else /usr/sbin/nats-server
 * (Debian: `apt-get install -y nats-server`).
 */
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { connectNats, natsNames } from "../../transport/nats.ts";

export interface NatsServerOptions {
  /** Extra nats-server arguments, e.g. ["--user", "u", "--pass", "p"]. */
  args?: string[];
  /** Keep the store directory on stop() (default false: it is deleted). */
  keepStore?: boolean;
  /** How the readiness probe connects (credentials, TLS) when the server requires it. */
  connect?: Partial<NodeConnectionOptions>;
  /** URL scheme clients should use (default `nats`; `tls` for a TLS-only server). */
  scheme?: "nats" | "tls";
}

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** Stop the server (SIGTERM, then SIGKILL after 5 s) and delete the store dir unless keepStore. */
  stop(): Promise<void>;
  /** Stop and start again on the same port and store dir. */
  restart(): Promise<void>;
  /** Stop without deleting the store (for restart tests that want a gap). */
  kill(): Promise<void>;
  /** Start again after kill(). */
  start(): Promise<void>;
}

export function natsServerBinary(): string {
  const env = Deno.env.get("NATS_SERVER");
  if (env) return env;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const p = `${dir}/nats-server`;
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not here
    }
  }
  return "/usr/sbin/nats-server";
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const storeDir = await Deno.makeTempDir({ prefix: "flowsweep-nats-" });
  const port = freePort();
  const url = `${opts.scheme ?? "nats"}://127.0.0.1:${port}`;
  let child: Deno.ChildProcess | null = null;

  const start = async () => {
    if (child) throw new Error("nats-server already running");
    const cmd = new Deno.Command(natsServerBinary(), {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...(opts.args ?? [])],
      stdout: "null",
      stderr: "piped",
    });
    child = cmd.spawn();
    // Keep stderr drained (nats-server logs there) but remember the tail for error messages.
    let tail = "";
    const proc = child;
    (async () => {
      const dec = new TextDecoder();
      for await (const chunk of proc.stderr) tail = (tail + dec.decode(chunk)).slice(-4000);
    })().catch(() => {});
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`nats-server did not start on ${port}: ${tail}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // The port accepts before JetStream has recovered its store: wait until the JS API answers.
    for (;;) {
      try {
        const nc = await connect({ servers: url, ...opts.connect });
        try {
          await nc.request("$JS.API.INFO", undefined, { timeout: 1000 });
          return;
        } finally {
          await nc.close();
        }
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`JetStream not ready on ${port}: ${err} ${tail}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const kill = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    try {
      proc.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 5000);
    await proc.status;
    clearTimeout(timer);
  };

  await start();
  return {
    url,
    port,
    storeDir,
    start,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: async () => {
      await kill();
      if (!opts.keepStore) await Deno.remove(storeDir, { recursive: true }).catch(() => {});
    },
  };
}

/** Result messages stored per job id (the raw results stream, read without any dedupe). */
export async function storedResultCounts(url: string, sweep: string): Promise<Map<string, number>> {
  const nc = await connectNats({ nats: url });
  try {
    const names = natsNames();
    const c = await jetstream(nc).consumers.get(names.eventsStream, {
      filter_subjects: `${names.prefix}.events.${sweep}.result.>`,
    });
    const out = new Map<string, number>();
    for (;;) {
      const m = await c.next({ expires: 1000 });
      if (!m) break;
      const id = m.subject.split(".").pop()!;
      out.set(id, (out.get(id) ?? 0) + 1);
    }
    return out;
  } finally {
    await nc.close();
  }
}
