/**
 * `flowsweep worker --probe`: the worker image's health check. Connects once (no retries, 5 s timeout) with
 * the worker's own connection flags, asks JetStream for the account info, loads the compute backend the worker
 * would use, prints one line for each and exits: 0 when both are fine, 1 when either is not. Creates nothing
 * on the broker and runs no job.
 *
 *   broker ok: nats://127.0.0.1:4222 (nats-server 2.10.18, JetStream: 3 streams)
 *   backend ok: blas (libopenblas.so.0 (OpenBLAS 0.3.21 ...), 1 thread(s))
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { type BackendName, describeGemm, selectGemm } from "../backends/select.ts";
import { natsConnectOptions, type NatsFlags } from "../transport/nats.ts";
import { type DEVICE_JOB_BACKENDS, isDeviceBackend } from "../workers/train_job.ts";

/** How long the probe waits for the broker (connect and the JetStream request each). */
export const PROBE_TIMEOUT_MS = 5000;

export interface ProbeOutcome {
  ok: boolean;
  /** `broker ok: …` or `broker unreachable: …` */
  broker: string;
  /** `backend ok: …` or `backend "<name>" unavailable: …` */
  backend: string;
}

/** Checks the broker and the backend; never throws (bad flags included: they make the broker line fail). */
export async function probeWorker(
  flags: NatsFlags,
  backend: BackendName | typeof DEVICE_JOB_BACKENDS[number],
): Promise<ProbeOutcome> {
  const [broker, gemm] = await Promise.all([probeBroker(flags), probeBackend(backend)]);
  return { ok: broker.ok && gemm.ok, broker: broker.line, backend: gemm.line };
}

async function probeBroker(flags: NatsFlags): Promise<{ ok: boolean; line: string }> {
  try {
    const nc = await connect({
      ...natsConnectOptions(flags),
      name: flags.name ?? "flowsweep-worker-probe",
      waitOnFirstConnect: false,
      reconnect: false,
      maxReconnectAttempts: 0,
      timeout: PROBE_TIMEOUT_MS,
    });
    try {
      const server = nc.info ? `nats-server ${nc.info.version}` : "nats-server";
      const jsm = await jetstreamManager(nc, { timeout: PROBE_TIMEOUT_MS });
      const account = await jsm.getAccountInfo();
      return {
        ok: true,
        line: `broker ok: ${nc.getServer()} (${server}, JetStream: ${account.streams} streams)`,
      };
    } finally {
      await nc.close().catch(() => {});
    }
  } catch (err) {
    return { ok: false, line: `broker unreachable: ${flags.nats}: ${oneLine(err)}` };
  }
}

async function probeBackend(
  name: BackendName | typeof DEVICE_JOB_BACKENDS[number],
): Promise<{ ok: boolean; line: string }> {
  try {
    if (isDeviceBackend(name)) {
      const { selectDevice } = await import("../backends/device/select.ts");
      const { probe } = await selectDevice(name as typeof DEVICE_JOB_BACKENDS[number]);
      return { ok: true, line: `backend ok: ${probe.name} (${probe.detail})` };
    }
    return { ok: true, line: `backend ok: ${describeGemm(await selectGemm(name as BackendName))}` };
  } catch (err) {
    const msg = oneLine(err);
    return { ok: false, line: msg.startsWith("backend ") ? msg : `backend unavailable: ${msg}` };
  }
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}
