/**
 * How to reach the broker: command-line connection flags (shared by worker, sweep and status) turned into one
 * nats.js options object.
 */
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";

/** Command-line flags that say how to reach the broker. */
export interface NatsFlags {
  /** Server URL(s), comma separated: `nats://host:4222` or `tls://host:4222`. */
  nats: string;
  /** NATS credentials file (JWT + nkey seed), e.g. from `nsc generate creds`. */
  creds?: string;
  user?: string;
  password?: string;
  token?: string;
  /** CA certificate (PEM) to verify the server; implies TLS. */
  tlsCa?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** Connection name shown in server monitoring. */
  name?: string;
  /** How long the FIRST connection may take (refused/unreachable retried until then). Default 10 000 ms. */
  connectTimeoutMs?: number;
}

/** Default bound on the first connection. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** The broker could not be reached, refused the credentials, or TLS failed: one line, never a secret. */
export class NatsConnectError extends Error {
  override name = "NatsConnectError";
}

/** A server URL with any user:password@ removed, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//***@");
}

const SCHEMES = ["nats", "tls"];

/** Checks one server URL (`nats://host:port`, `tls://host:port` or `host:port`); returns it or throws. */
function checkServer(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new NatsFlagError(`--nats: "${redactUrl(raw)}" is not a server URL (e.g. nats://127.0.0.1:4222)`);
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!SCHEMES.includes(scheme)) {
    throw new NatsFlagError(`--nats: scheme ${scheme}:// is not supported (use nats:// or tls://)`);
  }
  if (u.hostname === "" || (u.pathname !== "" && u.pathname !== "/") || u.search !== "" || u.hash !== "") {
    throw new NatsFlagError(`--nats: "${redactUrl(raw)}" is not a server URL (e.g. nats://127.0.0.1:4222)`);
  }
  if (u.port !== "" && !(Number(u.port) >= 1 && Number(u.port) <= 65535)) {
    throw new NatsFlagError(`--nats: bad port in "${redactUrl(raw)}"`);
  }
  return raw;
}

/** Thrown for inconsistent connection flags (the CLI turns it into a UsageError). */
export class NatsFlagError extends Error {
  override name = "NatsFlagError";
}

/**
 * Connection options from flags: reconnects forever (`maxReconnectAttempts: -1`, 1 s apart) so workers
 * survive broker restarts; credentials / user+password / token; TLS with a custom CA and client certificate.
 */
export function natsConnectOptions(flags: NatsFlags): NodeConnectionOptions {
  const servers = flags.nats.split(",").map((s) => s.trim()).filter((s) => s !== "").map(checkServer);
  if (servers.length === 0) throw new NatsFlagError("--nats needs a server URL, e.g. nats://127.0.0.1:4222");
  if ((flags.user === undefined) !== (flags.password === undefined)) {
    throw new NatsFlagError("--user and --password go together");
  }
  const methods = [flags.creds !== undefined, flags.user !== undefined, flags.token !== undefined];
  if (methods.filter(Boolean).length > 1) {
    throw new NatsFlagError("use only one of --creds, --user/--password, --token");
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new NatsFlagError("--tls-cert and --tls-key go together");
  }
  const opts: NodeConnectionOptions = {
    servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  };
  if (flags.name !== undefined) opts.name = flags.name;
  if (flags.creds !== undefined) {
    const path = flags.creds;
    let data: Uint8Array;
    try {
      data = Deno.readFileSync(path);
    } catch (err) {
      throw new NatsFlagError(`cannot read --creds ${path}: ${(err as Error).message}`);
    }
    opts.authenticator = credsAuthenticator(data);
  }
  if (flags.user !== undefined) {
    opts.user = flags.user;
    opts.pass = flags.password;
  }
  if (flags.token !== undefined) opts.token = flags.token;
  if (
    flags.tlsCa !== undefined || flags.tlsCert !== undefined || servers.some((s) => s.startsWith("tls://"))
  ) {
    opts.tls = {};
    if (flags.tlsCa !== undefined) opts.tls.caFile = flags.tlsCa;
    if (flags.tlsCert !== undefined) opts.tls.certFile = flags.tlsCert;
    if (flags.tlsKey !== undefined) opts.tls.keyFile = flags.tlsKey;
  }
  return opts;
}

/**
 * Connect with `natsConnectOptions(flags)`. The first connection is bounded (`connectTimeoutMs`): a refused or
 * unreachable broker is retried until then, refused credentials and TLS failures end at once, each as one
 * NatsConnectError line. Once connected, reconnects are unbounded (workers outlive broker restarts).
 */
export async function connectNats(flags: NatsFlags): Promise<NatsConnection> {
  const opts = natsConnectOptions(flags);
  const where = redactUrl(flags.nats);
  lastServer = where;
  const limit = flags.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const end = Date.now() + limit;
  let last = "";
  for (;;) {
    const left = end - Date.now();
    try {
      return await connect({
        ...opts,
        waitOnFirstConnect: false,
        timeout: Math.max(200, Math.min(left, 5000)),
      });
    } catch (err) {
      const e = err as Error;
      const msg = redactUrl(e.message ?? String(err)).split("\n")[0];
      if (e.name === "AuthorizationError" || /authoriz|authenticat|permissions violation/i.test(msg)) {
        throw new NatsConnectError(`NATS at ${where} refused the credentials (${msg})`);
      }
      if (/tls|ssl|certificate|handshake/i.test(msg) || /tls|ssl|certificate/i.test(String(e.cause ?? ""))) {
        throw new NatsConnectError(`TLS with NATS at ${where} failed: ${msg}`);
      }
      last = msg;
    }
    if (Date.now() + 500 >= end) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  // A TLS broker that takes the TCP connection but never completes the NATS handshake is a TLS problem (most
  // often a client certificate it requires and did not get; its alert does not always surface as an error).
  if (
    opts.tls && /timeout|closed|no answer/i.test(last || "no answer") && await tcpReachable(servers(opts))
  ) {
    throw new NatsConnectError(
      `TLS with NATS at ${where} failed: the server accepted the connection but never completed the handshake` +
        (flags.tlsCert === undefined ? " (does it require a client certificate? --tls-cert/--tls-key)" : ""),
    );
  }
  throw new NatsConnectError(
    `cannot reach NATS at ${where} within ${(limit / 1000).toFixed(0)} s (${last || "no answer"})`,
  );
}

function servers(opts: NodeConnectionOptions): string[] {
  return Array.isArray(opts.servers) ? opts.servers : opts.servers ? [opts.servers] : [];
}

/** Whether some server accepts a TCP connection (within 2 s). */
async function tcpReachable(urls: string[]): Promise<boolean> {
  for (const raw of urls) {
    try {
      const u = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `nats://${raw}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const pending = Deno.connect({
        hostname: u.hostname.replace(/^\[|\]$/g, ""),
        port: Number(u.port || 4222),
      });
      const conn = await Promise.race([
        pending,
        new Promise<null>((r) => (timer = setTimeout(() => r(null), 2000))),
      ])
        .finally(() => clearTimeout(timer));
      if (!conn) pending.then((c) => c.close(), () => {});
      if (conn) {
        conn.close();
        return true;
      }
    } catch { /* next */ }
  }
  return false;
}

let lastServer = "";

/**
 * The one line for an error that escaped every caller: a TLS alert the broker sends after the handshake (a
 * client certificate it refuses) surfaces as an uncaught socket error. Null when `err` is not such an error.
 */
export function tlsFailureLine(err: unknown): string | null {
  const msg = err instanceof Error ? err.message : String(err);
  if (!/fatal alert|certificate|tls|ssl/i.test(msg)) return null;
  return `TLS with NATS at ${lastServer || "the broker"} failed: ${redactUrl(msg.split("\n")[0])}`;
}
