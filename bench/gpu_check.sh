#!/usr/bin/env bash
# GPU check (docs/device.md): on a machine with a GPU, in a few minutes, prints what each backend finds (the
# WebGPU adapter's name, vendor and limits; tfjs-node-gpu if installed), runs the device engine's equivalence
# tests (tests/device_webgpu_test.ts, tests/device_grid_webgpu_test.ts and tests/device_scores_webgpu_test.ts run
# on the adapter Deno finds; tests/device_engine_test.ts and tests/device_grid_test.ts on tfjs-cpu), and prints
# ms/step of the device engine next to the CPU engine's at the paper's scale (Ising L = 15, D = 225, B = 256, MLP
# 256×3, with atb/learned, pg and akl/opt-vector-loo; the hypergrid d = 4, H = 8, B = 256, MLP 256×2) in the same
# run, and 10 seeds batched in one device program — by the bench, and through a sweep with seed_batch 10 (stored
# as 10 jobs) next to the CPU engine's sweep of one seed — with the load.
#   bench/gpu_check.sh [DEVICE]     DEVICE: auto (default; a real GPU only) | webgpu | tensorflow-gpu | tfjs-cpu
# Exit status: 0 when the tests pass and the bench ran. (Mesa's "XDG_RUNTIME_DIR is invalid" lines are filtered.)
set -uo pipefail
cd "$(dirname "$0")/.."
device=${1:-auto}
status=0
echo "== backends (flowsweep doctor)"
npx -y deno@2 run -A main.ts doctor 2> >(grep -v XDG_RUNTIME_DIR >&2)
echo "== equivalence: device engine vs CPU engine (gradients on a fixed batch, transfer counter, training)"
npx -y deno@2 test -A tests/device_webgpu_test.ts tests/device_engine_test.ts tests/device_grid_webgpu_test.ts \
  tests/device_grid_test.ts tests/device_scores_webgpu_test.ts 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
echo "== ms/step: Ising L=15 (D=225), B=256, hidden 256,256,256, atb/learned (device: $device)"
OPENBLAS_NUM_THREADS=1 npx -y deno@2 run -A bench/device_step.ts --device "$device" --L 15 --batch 256 \
  --hidden 256,256,256 --steps 10 --seeds 10 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
# pg (value network, per-row GAE coefficients) and the optimal vector baseline (per-sample scores in chunks, two
# passes) at the same scale: their cost over atb/learned's
for args in "--objective pg" "--objective akl --cv opt-vector-loo"; do
  echo "== ms/step: Ising L=15 (D=225), B=256, hidden 256,256,256, $args (device: $device)"
  OPENBLAS_NUM_THREADS=1 npx -y deno@2 run -A bench/device_step.ts --device "$device" --L 15 --batch 256 \
    --hidden 256,256,256 --steps 3 $args 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
done
echo "== ms/step: hypergrid d=4, H=8 (T=29), B=256, hidden 256,256, atb/learned α=0.5 (device: $device)"
OPENBLAS_NUM_THREADS=1 npx -y deno@2 run -A bench/device_step.ts --device "$device" --task hypergrid --grid-dim 4 \
  --grid-size 8 --batch 256 --hidden 256,256 --alpha 0.5 --steps 10 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
# The Ising bench's scale through the sweep path (spec seed_batch, docs/spec.md): 10 seeds as one unit on the device,
# stored as 10 jobs; ms/step of the unit's program (from the stored summaries) next to the CPU engine's, same
# sweep with one seed on the CPU engine (its ms/step × 10 = 10 separate runs).
sweep_device=$device
if [ "$device" = auto ]; then
  sweep_device=$(npx -y deno@2 run -A main.ts doctor --json 2>/dev/null |
    npx -y deno@2 eval 'const j = JSON.parse(await new Response(Deno.stdin.readable).text()); console.log(j.deviceAuto ?? "")')
fi
echo "== seed_batch 10 through a sweep: Ising L=15, B=256, hidden 256,256,256, 10 steps (device: ${sweep_device:-none})"
if [ -z "$sweep_device" ]; then
  echo "skipped: no GPU backend found (auto never picks a software adapter; pass DEVICE)"
else
  tmp=$(mktemp -d)
  size=(L=15 batch=256 "hidden=[256,256,256]" steps=10 eval_every=10 eval_samples=64 "matrix.objective=[atb]")
  npx -y deno@2 run -A main.ts sweep sweeps/seed-batch.yaml "${size[@]}" seeds=10 --backend "$sweep_device" \
    --seed-batch 10 --run-dir "$tmp/device" --workers 1 --progress none --no-report 2> >(grep -v XDG_RUNTIME_DIR >&2) || status=1
  OPENBLAS_NUM_THREADS=1 npx -y deno@2 run -A main.ts sweep sweeps/seed-batch.yaml "${size[@]}" seeds=1 \
    --backend auto --seed-batch 1 --run-dir "$tmp/cpu" --workers 1 --progress none --no-report || status=1
  npx -y deno@2 eval "
    import { openStore } from './coordinator/store.ts';
    const ms = (dir) => { const s = openStore(dir, { readOnly: true }); const r = s.records(); s.close(); return r; };
    const dev = ms('$tmp/device'), cpu = ms('$tmp/cpu');
    const done = dev.filter((r) => r.status === 'done');
    console.log('  device ' + done[0]?.final?.backend + ': ' + done.length + '/10 seeds stored as separate jobs, ' +
      (done[0]?.final?.ms_per_step ?? NaN).toFixed(1) + ' ms/step for all 10 (one program)');
    const c = cpu[0]?.final?.ms_per_step ?? NaN;
    console.log('  cpu    ' + cpu[0]?.final?.backend + ': ' + c.toFixed(1) + ' ms/step for one seed, ' +
      (10 * c).toFixed(1) + ' ms/step for 10 separate runs');
    if (done.length !== 10) Deno.exit(1);
  " || status=1
  rm -rf "$tmp"
fi
uptime
exit $status
