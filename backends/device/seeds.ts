/**
 * Per-seed random streams of the device engine (backends/device/sampler.ts `DeviceRandom`): seed k's uniforms come
 * from seed k's own stream, so K seeds batched in one program draw exactly what K separate runs draw.
 *
 * Training uses `DeviceUniforms` (backends/device/rng.ts: the generator on the device, seeded once). Kept here as
 * a reference: `TfjsSeededRandom`, where each call draws, per seed, a 31-bit seed from that seed's host Rng
 * (core/rng.ts) and asks tfjs for seeded uniforms (tfjs draws them on the host and uploads them: K·n float32 per
 * call, so O(B·D) bytes up per step).
 */
import type { Rng } from "../../core/rng.ts";
import type { DeviceRandom, T, Tf } from "./sampler.ts";

export class TfjsSeededRandom implements DeviceRandom {
  readonly K: number;
  constructor(private readonly tf: Tf, private readonly rngs: readonly Rng[]) {
    this.K = rngs.length;
  }
  uniform(shape: readonly number[]): T {
    const { tf } = this;
    return tf.tidy(() =>
      tf.stack(this.rngs.map((r) => tf.randomUniform([...shape], 0, 1, "float32", r.int(0x7fffffff))))
    );
  }
}
