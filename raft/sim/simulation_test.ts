import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { runSimulation } from "./simulation.ts";

function traceOf(seed: number): { lines: string[]; violation: string | null } {
  const lines: string[] = [];
  const r = runSimulation({ seed, trace: (l) => lines.push(l), safetyTicks: 400 });
  return { lines, violation: r.violation };
}

Deno.test("simulation: a seed replays exactly (same trace, same outcome)", () => {
  const a = traceOf(11);
  const b = traceOf(11);
  ok(a.lines.length > 20, `trace has ${a.lines.length} lines`);
  deepStrictEqual(a.lines, b.lines);
  strictEqual(a.violation, b.violation);
  const c = traceOf(12);
  ok(c.lines.join("\n") !== a.lines.join("\n"), "different seeds give different runs");
});

Deno.test("simulation: a handful of seeds run clean and exercise the faults", () => {
  const totals = {
    crashes: 0,
    partitions: 0,
    confChangesApplied: 0,
    snapshotsInstalled: 0,
    opsCompleted: 0,
  };
  const violations: string[] = [];
  for (let seed = 9000; seed < 9010; seed++) {
    const r = runSimulation({ seed });
    if (r.violation !== null) violations.push(`seed ${seed}: ${r.violation}`);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  }
  deepStrictEqual(violations, []);
  for (const [k, v] of Object.entries(totals)) ok(v > 0, `${k} happened (${v})`);
});

Deno.test("simulation: acknowledging writes before commit is caught", () => {
  let caught = 0;
  for (let seed = 0; seed < 20; seed++) {
    const r = runSimulation({ seed, bugs: { ackBeforeCommit: true }, safetyTicks: 500 });
    if (r.violation?.startsWith("linearizability")) caught++;
  }
  ok(caught >= 5, `linearizability violations found in ${caught} of 20 seeds`);
});

Deno.test("simulation: sending before the disk sync is caught", () => {
  let caught = 0;
  for (let seed = 0; seed < 40 && caught < 3; seed++) {
    const r = runSimulation({ seed, bugs: { sendBeforeSync: true } });
    if (r.violation !== null && !r.violation.startsWith("liveness")) caught++;
  }
  ok(caught >= 3, `safety violations found in ${caught} of 40 seeds`);
});
