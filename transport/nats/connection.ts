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
  const servers = flags.nats.split(",").map((s) => s.trim()).filter((s) => s !== "");
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

/** Connect with `natsConnectOptions(flags)`. */
export function connectNats(flags: NatsFlags): Promise<NatsConnection> {
  return connect(natsConnectOptions(flags));
}
