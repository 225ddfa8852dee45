import assert from "node:assert/strict";
import { defaultTimeoutS, jobTimeoutMs, MAX_TIMER_MS, parseDurationS, TIMEOUT_CAP_S } from "./limits.ts";
import type { Job } from "./job.ts";

const job = (kind: Job["kind"], config: Record<string, unknown>, timeout_s?: number): Job => ({
  id: "x",
  sweep: "s",
  stage: "main",
  kind,
  config,
  limits: timeout_s === undefined ? undefined : { timeout_s },
});

Deno.test("limits: durations parse as seconds or with a unit; anything else is null", () => {
  assert.deepEqual(
    [
      parseDurationS(90),
      parseDurationS("90"),
      parseDurationS("90s"),
      parseDurationS("10m"),
      parseDurationS("2h"),
    ],
    [90, 90, 90, 600, 7200],
  );
  for (const bad of [0, -1, "0s", "soon", "1d", "", null, true, NaN, Infinity]) {
    assert.equal(parseDurationS(bad), null, String(bad));
  }
});

Deno.test("limits: the default timeout grows with steps, is capped, and a job's own timeout wins", () => {
  assert.equal(defaultTimeoutS("train", { steps: 1000 }), 600 + 10 * 1000);
  assert.equal(defaultTimeoutS("train", { steps: 1e8 }), TIMEOUT_CAP_S);
  assert.equal(defaultTimeoutS("sleep", { ms: 5000 }), 605);
  assert.equal(jobTimeoutMs(job("train", { steps: 10 }, 2)), 2000);
  assert.equal(jobTimeoutMs(job("train", { steps: 10 })), 700_000);
  // Beyond what a timer holds: no limit rather than an overflowed 1 ms timer.
  assert.equal(jobTimeoutMs(job("noop", {}, 1e9)), MAX_TIMER_MS);
});
