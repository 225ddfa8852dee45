import assert from "node:assert/strict";
import { loadSweep } from "../core/sweep/expand.ts";
import { SpecError } from "../core/sweep/spec.ts";

/** Bad specs: [what, yaml, expected first issue as "line:col: message fragment"]. */
const BAD: [string, string, string][] = [
  ["YAML syntax error", "name: x\nmatrix: [1, 2\n", "3:1: YAML:"],
  ["duplicate key", "name: x\nname: y\n", "2:1: YAML: Map keys must be unique"],
  ["spec is not a mapping", "- 1\n- 2\n", "1:1: a sweep spec must be a mapping, got a list"],
  [
    "unknown top-level key",
    "name: x\nmatrixx: {}\n",
    '2:1: unknown key "matrixx" in the spec (did you mean "matrix"?)',
  ],
  ["missing name", "seeds: 2\n", '1:1: the spec needs a "name"'],
  ["name with a slash", "name: a/b\n", '1:7: name "a/b" may only use'],
  ["name of the wrong type", "name: [a]\n", "1:7: name must be a non-empty string, got a list"],
  [
    "unknown kind",
    "name: x\nkind: nop\n",
    '2:7: kind must be one of train, noop, sleep, fail, got "nop" (did you mean "noop"?)',
  ],
  ["base not a mapping", "name: x\nbase: 3\n", "2:7: base must be a mapping, got number 3"],
  ["empty axis", "name: x\nmatrix:\n  beta: []\n", '3:9: axis "beta" in matrix must not be empty'],
  [
    "axis not a list",
    "name: x\nmatrix:\n  beta: 0.4\n",
    'axis "beta" in matrix must be a non-empty list of values, got number 0.4',
  ],
  [
    "duplicate axis value",
    "name: x\nmatrix:\n  beta: [0.4, 0.4]\n",
    '3:15: value 0.4 appears twice in axis "beta"',
  ],
  ["matrix without axes", "name: x\nmatrix: {}\n", "2:9: matrix must have at least one axis"],
  [
    "null axis value",
    "name: x\nmatrix:\n  beta: [0.4, null]\n",
    '3:15: a value of axis "beta" in matrix must not be null',
  ],
  [
    "seeds zero",
    "name: x\nseeds: 0\n",
    "2:8: seeds (a count) must be an integer in [1, 100000], got number 0",
  ],
  ["seeds empty list", "name: x\nseeds: []\n", "2:8: seeds must not be empty"],
  [
    "negative seed",
    "name: x\nseeds: [1, -2]\n",
    "2:12: each seed must be an integer in [0, 2147483647], got number -2",
  ],
  ["duplicate seed", "name: x\nseeds: [1, 1]\n", "2:12: seed 1 appears twice"],
  [
    "seed axis and seeds",
    "name: x\nseeds: 2\nmatrix:\n  seed: [1]\n",
    '4:3: "seed" is an axis and "seeds" is set',
  ],
  ["exclude not a list", "name: x\nexclude: {beta: 1}\n", "2:10: exclude must be a list, got a mapping"],
  ["empty exclude rule", "name: x\nmatrix: {beta: [1]}\nexclude: [{}]\n", "3:11: exclude[0] is empty"],
  [
    "unknown stage key",
    "name: x\nstages:\n  - name: a\n    sett: {}\n",
    'unknown key "sett" in stages[0] (did you mean "set"?)',
  ],
  ["stage without name", "name: x\nstages:\n  - set: {}\n", "3:5: stages[0] needs a name"],
  ["duplicate stage", "name: x\nstages:\n  - name: a\n  - name: a\n", '4:5: stage "a" is defined twice'],
  [
    "bad input reference",
    "name: x\nstages:\n  - name: a\n    inputs: {e: energy}\n",
    'must name <stage>.<artifact>, got "energy"',
  ],
  [
    "report without metric",
    "name: x\nreport:\n  rows: [beta]\n  columns: []\n",
    '3:3: report needs "metric"',
  ],
  [
    "report decimals",
    "name: x\nreport: {rows: [beta], columns: [], metric: m, decimals: -1}\n",
    "report.decimals must be an integer in [0, 12]",
  ],
  [
    "unknown report key",
    "name: x\nreport: {rows: [beta], columns: [], metric: m, format: x}\n",
    'unknown key "format" in report',
  ],
  [
    "row and column share a key",
    "name: x\nreport: {rows: [beta], columns: [beta], metric: m}\n",
    '"beta" is both a row and a column key',
  ],
  ["max_attempts zero", "name: x\nmax_attempts: 0\n", "2:15: max_attempts must be an integer in [1, 100]"],
  // Errors found while expanding (resolved configs, stages, rules).
  [
    "unknown training option",
    "name: x\nbase:\n  stepz: 10\n",
    '3:10: unknown training option "stepz" (did you mean "steps"?)',
  ],
  [
    "wrong type in base",
    "name: x\nbase:\n  steps: many\n",
    "3:10: steps: Invalid input: expected number, received string (got many)",
  ],
  [
    "axis value out of range",
    "name: x\nmatrix:\n  alpha: [0, 1.5]\n",
    "3:14: alpha: Too big: expected number to be <=1 (got 1.5)",
  ],
  [
    "bad enum value in axis",
    "name: x\nmatrix:\n  cv: [learned, lernd]\n",
    '3:17: cv: Invalid option: expected one of "none"|"learned"',
  ],
  [
    "include with bad value",
    "name: x\ninclude:\n  - {L: 1}\n",
    "3:9: L: Too small: expected number to be >=2 (got 1)",
  ],
  [
    "stage needs unknown stage",
    "name: x\nstages:\n  - name: a\n    needs: [b]\n",
    '4:13: stage "a" needs unknown stage "b"',
  ],
  [
    "stage cycle",
    "name: x\nstages:\n  - name: a\n    needs: b\n  - name: b\n    needs: a\n",
    "stages form a cycle",
  ],
  [
    "input from a stage not needed",
    "name: x\nstages:\n  - name: a\n    artifacts: [e]\n  - name: b\n    inputs: {e: a.e}\n",
    'input "e" of stage "b" comes from stage "a", which it does not need',
  ],
  [
    "artifact not produced",
    "name: x\nstages:\n  - name: a\n  - name: b\n    needs: a\n    inputs: {e: a.e}\n",
    '6:17: stage "a" does not produce artifact "e"',
  ],
  [
    "exclude uses unknown key",
    "name: x\nmatrix: {beta: [1, 2]}\nexclude: [{btea: 1}]\n",
    '3:18: exclude[0] uses "btea", which is not an axis or config key (did you mean "beta"?)',
  ],
  [
    "exclude matches nothing",
    "name: x\nmatrix: {beta: [1, 2]}\nexclude: [{beta: 3}]\n",
    "3:11: exclude[0] matches no job",
  ],
  [
    "everything excluded",
    "name: x\nmatrix: {beta: [1]}\nexclude: [{beta: 1}]\n",
    "1:1: the spec expands to no jobs",
  ],
  [
    "report key not in configs",
    "name: x\nreport: {rows: [betta], columns: [], metric: e_logw}\n",
    '2:17: report key "betta" is not a config key of any job (did you mean "beta"?)',
  ],
  [
    "sleep job with bad ms",
    "name: x\nkind: sleep\nmatrix: {ms: [10, fast]}\n",
    "3:19: ms of a sleep job must be a number ≥ 0 (got fast)",
  ],
  [
    "ambiguous dependency",
    "name: x\nkind: noop\nstages:\n  - name: a\n    matrix: {v: [1, 2]}\n  - name: b\n    needs: a\n",
    '7:12: 2 jobs of stage "a" match (no keys to match on)',
  ],
];

Deno.test("sweep spec: bad specs name file:line:column and say what is wrong", async (t) => {
  for (const [what, yaml, expected] of BAD) {
    await t.step(what, () => {
      let err: unknown;
      try {
        loadSweep(yaml, "bad.yaml");
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SpecError, `${what}: expected a SpecError, got ${err}`);
      const lines = err.message.split("\n");
      assert.ok(lines.every((l) => /^bad\.yaml:\d+:\d+: /.test(l)), err.message);
      assert.ok(
        lines.some((l) => l.includes(expected)),
        `${what}: expected a line containing\n  ${expected}\ngot\n  ${lines.join("\n  ")}`,
      );
    });
  }
  assert.ok(BAD.length >= 15);
});

Deno.test("sweep spec: all problems of one phase are reported together, in file order", () => {
  const yaml = "name: x\nbase:\n  stepz: 1\n  lr: -1\nmatrix:\n  cv: [nope]\n";
  assert.throws(() => loadSweep(yaml, "f.yaml"), (e: unknown) => {
    assert.ok(e instanceof SpecError);
    assert.deepEqual(e.issues.map((i) => `${i.line}:${i.col}`).sort(), ["3:10", "4:7", "6:8"]);
    assert.deepEqual(e.message.split("\n").map((l) => l.split(": ")[0]), [
      "f.yaml:3:10",
      "f.yaml:4:7",
      "f.yaml:6:8",
    ]);
    return true;
  });
});
