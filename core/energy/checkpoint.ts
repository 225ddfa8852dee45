/**
 * The portable energy checkpoint (docs/energy-checkpoint.md): one JSON document holding the energy network's
 * architecture and weights (base64 of little-endian float32), the task it was trained on and a hash of the
 * training config. Pure: serialising and parsing strings; files are read and written at the edges.
 */
import { type Activation, ACTIVATIONS, type Mlp } from "../nn/mlp.ts";
import { canonicalJson } from "../canonical.ts";
import { sha256Hex } from "../sha256.ts";

export const ENERGY_FORMAT = "flowsweep-energy";
export const ENERGY_FORMAT_VERSION = 1;

export interface EnergyTensor {
  name: string;
  shape: number[];
  /** base64 of the little-endian float32 values, row-major. */
  data: string;
}

export interface EnergyCheckpoint {
  format: typeof ENERGY_FORMAT;
  version: number;
  task: string;
  bits: number;
  D: number;
  int_scale: number;
  architecture: {
    kind: "mlp";
    /** [D, h₁, …, h_k, 1] */
    sizes: number[];
    activation: Activation;
    input: "pm1";
    output: "log_unnormalised_prob";
  };
  dtype: "float32";
  byte_order: "little-endian";
  /** W₀, b₀, W₁, b₁, … (W_l row-major in × out). */
  params: EnergyTensor[];
  /** SHA-256 (hex) of the canonical JSON of the training config that produced it. */
  config_hash: string;
  /** That training config, for provenance. */
  config?: Record<string, unknown>;
  /** Training steps done when saved. */
  steps?: number;
}

export class EnergyCheckpointError extends Error {
  override name = "EnergyCheckpointError";
}

export interface EnergyInfo {
  task: string;
  bits: number;
  intScale: number;
  config: Record<string, unknown>;
  steps?: number;
}

export function configHash(config: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(config));
}

/** The checkpoint of an energy network. */
export function energyCheckpoint(net: Mlp, info: EnergyInfo): EnergyCheckpoint {
  const params: EnergyTensor[] = [];
  for (let l = 0; l + 1 < net.sizes.length; l++) {
    params.push({ name: `W${l}`, shape: [net.sizes[l], net.sizes[l + 1]], data: encodeFloat32(net.W[l]) });
    params.push({ name: `b${l}`, shape: [net.sizes[l + 1]], data: encodeFloat32(net.b[l]) });
  }
  return {
    format: ENERGY_FORMAT,
    version: ENERGY_FORMAT_VERSION,
    task: info.task,
    bits: info.bits,
    D: net.sizes[0],
    int_scale: info.intScale,
    architecture: {
      kind: "mlp",
      sizes: [...net.sizes],
      activation: net.activation,
      input: "pm1",
      output: "log_unnormalised_prob",
    },
    dtype: "float32",
    byte_order: "little-endian",
    params,
    config_hash: configHash(info.config),
    config: info.config,
    steps: info.steps,
  };
}

export function serializeEnergy(ckpt: EnergyCheckpoint): string {
  // one key per line; arrays of numbers (sizes, shapes, config lists) on one line
  return JSON.stringify(ckpt, null, 1).replace(
    /\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g,
    (_, inner: string) => `[${inner.replace(/\s+/g, "")}]`,
  ) + "\n";
}

/** Parses and validates a checkpoint document; the network comes back as float32. Throws EnergyCheckpointError. */
export function parseEnergyCheckpoint(text: string): { checkpoint: EnergyCheckpoint; net: Mlp } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new EnergyCheckpointError(`not JSON (${err instanceof Error ? err.message : err})`);
  }
  const bad = (msg: string): never => {
    throw new EnergyCheckpointError(msg);
  };
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) bad("not a JSON object");
  const c = doc as Record<string, unknown>;
  if (c.format !== ENERGY_FORMAT) bad(`format must be "${ENERGY_FORMAT}", got ${JSON.stringify(c.format)}`);
  if (c.version !== ENERGY_FORMAT_VERSION) {
    bad(
      `unsupported version ${JSON.stringify(c.version)} (this build reads version ${ENERGY_FORMAT_VERSION})`,
    );
  }
  if (typeof c.task !== "string") bad("task must be a string");
  if (!Number.isInteger(c.bits)) bad("bits must be an integer");
  if (!Number.isInteger(c.D)) bad("D must be an integer");
  if (typeof c.int_scale !== "number" || !(c.int_scale > 0)) bad("int_scale must be a positive number");
  if (c.dtype !== "float32") bad(`dtype must be "float32", got ${JSON.stringify(c.dtype)}`);
  if (c.byte_order !== "little-endian") {
    bad(`byte_order must be "little-endian", got ${JSON.stringify(c.byte_order)}`);
  }
  if (typeof c.config_hash !== "string") bad("config_hash must be a string");
  const a = c.architecture as Record<string, unknown> | undefined;
  if (!a || typeof a !== "object") bad("architecture is missing");
  const arch = a as Record<string, unknown>;
  if (arch.kind !== "mlp") bad(`architecture.kind must be "mlp", got ${JSON.stringify(arch.kind)}`);
  const sizes = arch.sizes;
  if (!Array.isArray(sizes) || sizes.length < 3 || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
    bad("architecture.sizes must list at least 3 positive integers [D, hidden…, 1]");
  }
  const sz = sizes as number[];
  if (sz[0] !== c.D) bad(`architecture.sizes[0] = ${sz[0]} but D = ${c.D}`);
  if (sz[sz.length - 1] !== 1) {
    bad(`an energy network has one output, architecture.sizes ends in ${sz[sz.length - 1]}`);
  }
  if (!(ACTIVATIONS as readonly unknown[]).includes(arch.activation)) {
    bad(
      `architecture.activation must be one of ${ACTIVATIONS.join(", ")}, got ${
        JSON.stringify(arch.activation)
      }`,
    );
  }
  if (arch.input !== "pm1") bad(`architecture.input must be "pm1", got ${JSON.stringify(arch.input)}`);
  if (arch.output !== "log_unnormalised_prob") {
    bad(`architecture.output must be "log_unnormalised_prob", got ${JSON.stringify(arch.output)}`);
  }
  const params = c.params;
  const L = sz.length - 1;
  if (!Array.isArray(params) || params.length !== 2 * L) {
    bad(
      `params must hold ${2 * L} tensors (W and b of ${L} layers), got ${
        Array.isArray(params) ? params.length : "none"
      }`,
    );
  }
  const W: Float32Array[] = [], b: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    for (const [kind, shape] of [["W", [sz[l], sz[l + 1]]], ["b", [sz[l + 1]]]] as const) {
      const t = (params as unknown[])[2 * l + (kind === "W" ? 0 : 1)] as Record<string, unknown>;
      const name = `${kind}${l}`;
      if (!t || typeof t !== "object") bad(`params[${2 * l + (kind === "W" ? 0 : 1)}] is not an object`);
      if (t.name !== name) {
        bad(`params in order W0, b0, W1, …: expected ${name}, got ${JSON.stringify(t.name)}`);
      }
      if (!Array.isArray(t.shape) || t.shape.join(",") !== shape.join(",")) {
        bad(`${name} has shape ${JSON.stringify(t.shape)}, the architecture needs [${shape.join(", ")}]`);
      }
      if (typeof t.data !== "string") bad(`${name}.data must be a base64 string`);
      const n = shape.reduce((p, q) => p * q, 1);
      const values = decodeFloat32(t.data as string, n, name);
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) bad(`${name} holds a non-finite value at ${i}`);
      }
      (kind === "W" ? W : b).push(values);
    }
  }
  const checkpoint = c as unknown as EnergyCheckpoint;
  return { checkpoint, net: { sizes: [...sz], activation: arch.activation as Activation, W, b } };
}

export interface EnergyExpectation {
  task: string;
  bits: number;
  intScale: number;
  /** Hidden sizes the config asks for. */
  hidden: number[];
}

/** Throws EnergyCheckpointError unless the checkpoint was trained for this task, discretisation and architecture. */
export function checkEnergyMatches(ckpt: EnergyCheckpoint, want: EnergyExpectation): void {
  const bad = (msg: string): never => {
    throw new EnergyCheckpointError(msg);
  };
  if (ckpt.task !== want.task) bad(`it was trained on task ${ckpt.task}, this run is ${want.task}`);
  if (ckpt.bits !== want.bits) bad(`it was trained at bits=${ckpt.bits}, this run has bits=${want.bits}`);
  if (Math.abs(ckpt.int_scale - want.intScale) > 1e-9 * want.intScale) {
    bad(
      `its int_scale ${ckpt.int_scale} differs from this build's ${want.intScale} for ${want.task} at ${want.bits} bits`,
    );
  }
  const hidden = ckpt.architecture.sizes.slice(1, -1);
  if (hidden.join(",") !== want.hidden.join(",")) {
    bad(`its hidden sizes [${hidden.join(", ")}] differ from energy_hidden [${want.hidden.join(", ")}]`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// base64 of little-endian float32

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

export function base64Encode(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i],
      b = i + 1 < bytes.length ? bytes[i + 1] : 0,
      c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] +
      (i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < bytes.length ? B64[n & 63] : "=");
    if (chunk.length >= 4096) {
      parts.push(chunk);
      chunk = "";
    }
  }
  parts.push(chunk);
  return parts.join("");
}

/** Strict base64 decoding (standard alphabet, padding required). Throws EnergyCheckpointError. */
export function base64Decode(s: string, what = "data"): Uint8Array {
  if (s.length % 4 !== 0) {
    throw new EnergyCheckpointError(`${what}: base64 length ${s.length} is not a multiple of 4`);
  }
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = s.charCodeAt(i + j);
      const isPad = ch === 61 && i + 4 === s.length && j >= 4 - pad;
      const v = isPad ? 0 : ch < 128 ? B64_INDEX[ch] : -1;
      if (v < 0) throw new EnergyCheckpointError(`${what}: invalid base64 character at ${i + j}`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function encodeFloat32(values: ArrayLike<number>): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return base64Encode(bytes);
}

export function decodeFloat32(s: string, n: number, what = "data"): Float32Array {
  const bytes = base64Decode(s, what);
  if (bytes.length !== 4 * n) {
    throw new EnergyCheckpointError(
      `${what}: expected ${n} float32 values (${4 * n} bytes), got ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}
