#!/bin/sh
# Builds backends/kernels/kernels.wasm from kernels.c with Debian's clang + lld (apt-get install clang lld) and
# Deno (relaxed.ts: clang 14 writes relaxed SIMD's fused multiply-add under a draft opcode; this rewrites it to the
# standard one). The output is committed, so a fresh machine needs no compiler; tests/kernels_test.ts rebuilds it
# where clang exists and checks the committed file matches. Usage: backends/kernels/build.sh [OUT.wasm]
# (DENO: the deno executable, default `deno`.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/kernels.wasm}
CLANG=${CLANG:-clang}
DENO=${DENO:-deno}
flags="--target=wasm32 -O3 -msimd128 -mrelaxed-simd -mbulk-memory -nostdlib -ffreestanding -fno-ident -Wall -Werror"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
"$CLANG" $flags -S -o "$tmp/kernels.s" "$here/kernels.c"
count=$(grep -c '^[[:space:]]*f32x4\.fma$' "$tmp/kernels.s" || true)
# shellcheck disable=SC2086
"$CLANG" $flags \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -Wl,--export=__heap_base -Wl,--stack-first -Wl,-z,stack-size=65536 \
  -o "$tmp/kernels.wasm" "$here/kernels.c"
"$DENO" run --allow-read --allow-write "$here/relaxed.ts" "$tmp/kernels.wasm" "$out" "$count"
