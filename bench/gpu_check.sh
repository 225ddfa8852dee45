#!/usr/bin/env bash
# GPU check (docs/device.md): on a machine with a GPU, in a few minutes, prints what each backend finds (the
# WebGPU adapter's name, vendor and limits; tfjs-node-gpu if installed), runs the device engine's equivalence
# tests (tests/device_webgpu_test.ts runs on the adapter Deno finds; tests/device_engine_test.ts on tfjs-cpu), and
# prints ms/step of the device engine next to the CPU engine's at the paper's scale (Ising L = 15, D = 225,
# B = 256, MLP 256×3) in the same run, and 10 seeds batched in one device program, with the machine's load.
#   bench/gpu_check.sh [DEVICE]     DEVICE: auto (default; a real GPU only) | webgpu | tensorflow-gpu | tfjs-cpu
# Exit status: 0 when the tests pass and the bench ran. (Mesa's "XDG_RUNTIME_DIR is invalid" lines are filtered.)
set -uo pipefail
cd "$(dirname "$0")/.."
device=${1:-auto}
status=0
echo "== backends (flowsweep doctor)"
npx -y deno@2 run -A main.ts doctor 2> >(grep -v XDG_RUNTIME_DIR >&2)
echo "== equivalence: device engine vs CPU engine (gradients on a fixed batch, transfer counter, training)"
npx -y deno@2 test -A tests/device_webgpu_test.ts tests/device_engine_test.ts 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
echo "== ms/step: Ising L=15 (D=225), B=256, hidden 256,256,256, atb/learned (device: $device)"
OPENBLAS_NUM_THREADS=1 npx -y deno@2 run -A bench/device_step.ts --device "$device" --L 15 --batch 256 \
  --hidden 256,256,256 --steps 10 --seeds 10 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
uptime
exit $status
