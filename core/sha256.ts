/**
 * SHA-256 as lower-case hex, from `node:crypto` (a runtime built-in: synchronous, deterministic, no I/O), so job
 * ids and checkpoint hashes can be computed in pure code. tests/sweep_expand_test.ts locks the ids it gives.
 */
import { createHash } from "node:crypto";

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
