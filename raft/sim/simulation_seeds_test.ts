/**
 * The CI seed sweep: 300 seeds (far from the ones the unit tests use) must
 * run without any safety, liveness or linearizability violation.
 * Reproduce a failure with `deno task sim --seed S --trace`.
 */
import { deepStrictEqual } from "node:assert/strict";
import { runSimulation } from "./simulation.ts";

const START = 100_000;
const COUNT = 300;

Deno.test(`simulation: ${COUNT} seeds from ${START} have no violation`, () => {
  const violations: string[] = [];
  for (let seed = START; seed < START + COUNT; seed++) {
    const r = runSimulation({ seed });
    if (r.violation !== null) violations.push(`seed ${seed}: ${r.violation.split("\n")[0]}`);
  }
  deepStrictEqual(violations, []);
});
