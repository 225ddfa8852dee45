import assert from "node:assert/strict";
import { createProgress, formatDuration, progressLine } from "../coordinator/progress.ts";
import type { SweepProgress } from "../coordinator/run.ts";

const snap = (elapsedMs: number, done: number, extra: Partial<SweepProgress> = {}): SweepProgress => ({
  total: 10,
  done,
  failed: 1,
  running: 2,
  queued: 10 - done - 3,
  target: 10,
  finished: done + 1,
  elapsedMs,
  ...extra,
});

Deno.test("progress: plain lines name done/running/failed/queued and the ETA", () => {
  assert.equal(formatDuration(59_400), "59s");
  assert.equal(formatDuration(65_000), "1m05s");
  assert.equal(formatDuration(3_725_000), "1h02m");
  assert.equal(
    progressLine(snap(65_000, 4, { etaMs: 190_000 })),
    "[1m05s] 4/10 done, 2 running, 1 failed, 3 queued, ETA 3m10s",
  );
  assert.equal(progressLine(snap(1000, 0)), "[1s] 0/10 done, 2 running, 1 failed, 7 queued");
});

Deno.test("progress: line mode prints at most once per interval, always the final state", () => {
  const out: string[] = [];
  const p = createProgress("lines", { intervalMs: 10_000, write: (l) => out.push(l) });
  p.update(snap(0, 0));
  p.update(snap(3_000, 1));
  p.update(snap(9_999, 2));
  p.update(snap(10_000, 3));
  p.update(snap(12_000, 7, { final: true, running: 0, failed: 0, queued: 3 }));
  p.stop();
  assert.deepEqual(out, [
    "[0s] 0/10 done, 2 running, 1 failed, 7 queued",
    "[10s] 3/10 done, 2 running, 1 failed, 4 queued",
    "[12s] 7/10 done, 0 running, 0 failed, 3 queued",
  ]);
  const quiet: string[] = [];
  const none = createProgress("none", { write: (l) => quiet.push(l) });
  none.update(snap(0, 0, { final: true }));
  none.stop();
  assert.deepEqual(quiet, []);
});
