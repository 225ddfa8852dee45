/**
 * Build step of kernels.wasm (backends/kernels/build.sh): Debian's clang 14 emits relaxed SIMD's fused
 * multiply-add under an early draft's opcode (f32x4.fma, 0xfd 0xaf 0x01), which today's engines reject; the
 * standard instruction is f32x4.relaxed_madd (0xfd 0x85 0x02), same operands (a·b + c) and the same length, so the
 * rewrite is in place. Only the code section is touched, and the number of rewritten opcodes must equal the number
 * of f32x4.fma instructions in clang's assembly of the same source (a byte pattern inside an immediate would make
 * the counts differ and stop the build).
 *
 *   deno run --allow-read --allow-write backends/kernels/relaxed.ts IN.wasm OUT.wasm COUNT
 */
const DRAFT_FMA = [0xfd, 0xaf, 0x01], RELAXED_MADD = [0xfd, 0x85, 0x02];
const CODE_SECTION = 10;

function leb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0, shift = 0, b;
  do {
    b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [value, at];
}

/** [start, end) of the code section's bytes. */
function codeSection(bytes: Uint8Array): [number, number] {
  let at = 8; // magic + version
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    if (id === CODE_SECTION) return [body, body + size];
    at = body + size;
  }
  throw new Error("no code section");
}

const [input, output, countArg] = Deno.args;
if (!input || !output || countArg === undefined) {
  console.error("usage: relaxed.ts IN.wasm OUT.wasm COUNT");
  Deno.exit(2);
}
const bytes = Deno.readFileSync(input);
const [start, end] = codeSection(bytes);
let found = 0;
for (let i = start; i + 2 < end; i++) {
  if (bytes[i] === DRAFT_FMA[0] && bytes[i + 1] === DRAFT_FMA[1] && bytes[i + 2] === DRAFT_FMA[2]) {
    bytes.set(RELAXED_MADD, i);
    found++;
    i += 2;
  }
}
if (found !== Number(countArg)) {
  console.error(
    `relaxed.ts: ${found} draft f32x4.fma opcodes in the code section, clang's assembly has ${countArg}`,
  );
  Deno.exit(1);
}
Deno.writeFileSync(output, bytes);
