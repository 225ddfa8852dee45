/**
 * The device engine's backends by name (backends/device/engine.ts runs on any of them):
 *   - `tensorflow-gpu`: `@tensorflow/tfjs-node-gpu` (CUDA), loaded from ./node_modules when installed (like
 *     backends/tensorflow.ts, never downloaded on the fly);
 *   - `webgpu`: `@tensorflow/tfjs-backend-webgpu` on Deno's `navigator.gpu` (Vulkan on Linux GPUs);
 *   - `tfjs-cpu`: `@tensorflow/tfjs-backend-cpu` (always loads; the reference for tests, not fast).
 * `auto` prefers tensorflow-gpu, then a WebGPU adapter that is real hardware; a software adapter (llvmpipe /
 * lavapipe / SwiftShader, or one the browser API flags as a fallback) is never chosen automatically — name
 * `webgpu` explicitly to use it (the tests do). tfjs keeps one global backend per process: selecting one sets it.
 */
import { createRequire } from "node:module";
import type { Tf } from "./engine.ts";

export const DEVICE_BACKEND_NAMES = ["auto", "tensorflow-gpu", "webgpu", "tfjs-cpu"] as const;
export type DeviceBackendName = typeof DEVICE_BACKEND_NAMES[number];

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Software rasteriser (llvmpipe, lavapipe, SwiftShader) or flagged as a fallback adapter. */
  software: boolean;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupSizeX: number };
}

export interface DeviceProbe {
  name: Exclude<DeviceBackendName, "auto">;
  ok: boolean;
  /** One line: what was found, or why it is unavailable. */
  detail: string;
  adapter?: AdapterInfo;
  /** Whether `auto` may choose it (a real GPU). */
  autoEligible: boolean;
}

interface GpuAdapterLike {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits?: Record<string, number>;
  requestAdapterInfo?: () => Promise<Record<string, unknown>>;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

/** Whether an adapter description names a software rasteriser. */
export function isSoftwareAdapter(description: string, fallback: boolean): boolean {
  return fallback || SOFTWARE.test(description);
}

/** The WebGPU adapter Deno finds here (navigator.gpu), or why none. Never throws. */
export async function probeWebGpuAdapter(): Promise<{ adapter?: AdapterInfo; reason?: string }> {
  const gpu =
    (globalThis.navigator as unknown as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } })
      ?.gpu;
  if (!gpu) return { reason: "navigator.gpu is absent (no WebGPU in this runtime)" };
  let a: GpuAdapterLike | null;
  try {
    a = await gpu.requestAdapter();
  } catch (err) {
    return { reason: `requestAdapter failed: ${firstLine(err)}` };
  }
  if (!a) {
    return {
      reason:
        "requestAdapter() returned null (no Vulkan driver: install a GPU driver or mesa-vulkan-drivers)",
    };
  }
  const info = a.info ?? (await a.requestAdapterInfo?.()) ?? {};
  const str = (k: string) => String(info[k] ?? "");
  const fallback = Boolean(a.isFallbackAdapter ?? info.isFallbackAdapter ?? false);
  const description = str("description");
  const lim = a.limits ?? {};
  return {
    adapter: {
      vendor: str("vendor"),
      architecture: str("architecture"),
      device: str("device"),
      description,
      software: isSoftwareAdapter(description, fallback),
      limits: {
        maxBufferSize: Number(lim.maxBufferSize ?? 0),
        maxStorageBufferBindingSize: Number(lim.maxStorageBufferBindingSize ?? 0),
        maxComputeWorkgroupSizeX: Number(lim.maxComputeWorkgroupSizeX ?? 0),
      },
    },
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0].trim();
}

/** What one device backend finds here (loads nothing into tfjs for `webgpu` beyond the adapter query). */
export async function probeDevice(name: Exclude<DeviceBackendName, "auto">): Promise<DeviceProbe> {
  switch (name) {
    case "tfjs-cpu":
      return { name, ok: true, detail: "tfjs-backend-cpu (reference; not fast)", autoEligible: false };
    case "webgpu": {
      const { adapter, reason } = await probeWebGpuAdapter();
      if (!adapter) return { name, ok: false, detail: reason!, autoEligible: false };
      const what = `${adapter.description || "adapter"} (vendor ${adapter.vendor || "?"}${
        adapter.architecture ? `, ${adapter.architecture}` : ""
      }, maxBufferSize ${adapter.limits.maxBufferSize})`;
      return {
        name,
        ok: true,
        adapter,
        detail: adapter.software ? `software adapter ${what}: never chosen by auto` : what,
        autoEligible: !adapter.software,
      };
    }
    case "tensorflow-gpu": {
      const require = createRequire(import.meta.url);
      try {
        require.resolve("@tensorflow/tfjs-node-gpu");
      } catch {
        return {
          name,
          ok: false,
          detail: "@tensorflow/tfjs-node-gpu is not installed (not found in node_modules)",
          autoEligible: false,
        };
      }
      return { name, ok: true, detail: "@tensorflow/tfjs-node-gpu installed", autoEligible: true };
    }
  }
}

export async function probeDevices(): Promise<DeviceProbe[]> {
  const out: DeviceProbe[] = [];
  for (const n of ["tensorflow-gpu", "webgpu", "tfjs-cpu"] as const) out.push(await probeDevice(n));
  return out;
}

/** The backend `auto` picks from probes: the first real GPU, or null (never a software adapter, never tfjs-cpu). */
export function autoDevice(probes: readonly DeviceProbe[]): DeviceProbe | null {
  return probes.find((p) => p.ok && p.autoEligible) ?? null;
}

/**
 * tfjs with the named backend set. `auto` without a real GPU is an error (one line) rather than a silent
 * software fallback.
 */
export async function selectDevice(name: DeviceBackendName): Promise<{ tf: Tf; probe: DeviceProbe }> {
  if (!(DEVICE_BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown device backend "${name}" (expected one of ${DEVICE_BACKEND_NAMES.join(", ")})`);
  }
  let probe: DeviceProbe;
  if (name === "auto") {
    const chosen = autoDevice(await probeDevices());
    if (!chosen) throw new Error(`device backend "auto": no GPU found (a software adapter is never chosen)`);
    probe = chosen;
  } else probe = await probeDevice(name);
  if (!probe.ok) throw new Error(`device backend "${probe.name}" unavailable: ${probe.detail}`);
  let tf: Tf;
  if (probe.name === "tensorflow-gpu") {
    tf = createRequire(import.meta.url)("@tensorflow/tfjs-node-gpu") as Tf;
    await tf.ready();
  } else {
    tf = await import("@tensorflow/tfjs-core");
    if (probe.name === "webgpu") await import("@tensorflow/tfjs-backend-webgpu");
    else await import("@tensorflow/tfjs-backend-cpu");
    const backend = probe.name === "webgpu" ? "webgpu" : "cpu";
    if (!(await tf.setBackend(backend))) {
      throw new Error(`device backend "${probe.name}": tfjs could not set it`);
    }
    if (backend === "cpu") (tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;
  }
  return { tf, probe };
}
