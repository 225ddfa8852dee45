#!/bin/sh
# Builds backends/kernels/kernels.wasm from kernels.c with Debian's clang + lld (apt-get install clang lld).
# The output is committed, so a fresh machine needs no compiler; tests/kernels_test.ts rebuilds it where clang
# exists and checks the committed file matches. Usage: backends/kernels/build.sh [OUT.wasm]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/kernels.wasm}
CLANG=${CLANG:-clang}
"$CLANG" --target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -ffreestanding -fno-ident \
  -Wall -Werror \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -Wl,--export=__heap_base -Wl,--stack-first -Wl,-z,stack-size=65536 \
  -o "$out" "$here/kernels.c"
