/**
 * Prints simulated membership figures with the default (LAN) configuration:
 * join convergence, crash detection time p50/p99 (kill → all live nodes mark dead),
 * gossip bytes per second per node in steady state, and false positives.
 *
 * Usage: `deno run cluster/sim/report.ts [runs=50]`
 *
 * @module
 */

import { allSee, allSeeAllAlive, MembershipSim, simIds } from "./membershipSim.ts";

/** Figures of one cluster size. */
export interface SimReport {
  nodes: number;
  runs: number;
  joinP50Ms: number;
  joinP99Ms: number;
  detectP50Ms: number;
  detectP99Ms: number;
  detectMaxMs: number;
  rejoinP50Ms: number;
  rejoinP99Ms: number;
  steadyBytesPerSecPerNode: number;
  falseSuspicions: number;
  falseDeaths: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs `runs` seeded scenarios with `n` nodes and returns the figures. */
export function measure(n: number, runs: number, lossRate = 0): SimReport {
  const join: number[] = [];
  const detect: number[] = [];
  const rejoin: number[] = [];
  const bytesPerSec: number[] = [];
  // Distinct (member, incarnation) wrongly suspected / declared dead, over all observers.
  const suspected = new Set<string>();
  const declaredDead = new Set<string>();
  for (let seed = 1; seed <= runs; seed++) {
    const sim = new MembershipSim({ seed, lossRate });
    const ids = simIds(n);
    // All nodes start within 100 ms, as a deployment started together.
    for (const id of ids) sim.start(id, ids.slice(0, 2));
    const joined = sim.runUntil(() => allSeeAllAlive(sim, ids), 60_000);
    if (joined === undefined) throw new Error(`seed ${seed}: no convergence`);
    join.push(joined);
    sim.runFor(10_000);
    sim.resetByteCounters();
    const steadyMs = 60_000;
    sim.runFor(steadyMs);
    let total = 0;
    for (const b of sim.bytesSent.values()) total += b;
    bytesPerSec.push(total / n / (steadyMs / 1000));
    const live = new Set(ids);
    const countFalse = () => {
      for (const e of sim.events) {
        if (!live.has(e.event.member.id)) continue;
        const key = `${seed}/${e.event.member.id}@${e.event.member.incarnation}`;
        if (e.event.kind === "suspect") suspected.add(key);
        if (e.event.kind === "dead") declaredDead.add(key);
      }
      sim.events.length = 0;
    };
    countFalse();
    const victim = ids[seed % n];
    live.delete(victim);
    sim.runFor((seed * 137) % 1000); // crash at a random phase of the probe cycle
    sim.crash(victim);
    const others = ids.filter((id) => id !== victim);
    const detected = sim.runUntil(() => allSee(sim, others, victim, "dead"), 60_000);
    if (detected === undefined) throw new Error(`seed ${seed}: crash not detected`);
    detect.push(detected);
    countFalse();
    sim.runFor(2_000);
    sim.restart(victim);
    live.add(victim);
    const back = sim.runUntil(() => allSeeAllAlive(sim, ids), 60_000);
    if (back === undefined) throw new Error(`seed ${seed}: restart not seen`);
    rejoin.push(back);
    sim.events.length = 0;
  }
  return {
    nodes: n,
    runs,
    joinP50Ms: percentile(join, 50),
    joinP99Ms: percentile(join, 99),
    detectP50Ms: percentile(detect, 50),
    detectP99Ms: percentile(detect, 99),
    detectMaxMs: Math.max(...detect),
    rejoinP50Ms: percentile(rejoin, 50),
    rejoinP99Ms: percentile(rejoin, 99),
    steadyBytesPerSecPerNode: Math.round(percentile(bytesPerSec, 50)),
    falseSuspicions: suspected.size,
    falseDeaths: declaredDead.size,
  };
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 50);
  for (const n of [5, 20]) console.log(JSON.stringify(measure(n, runs)));
  console.log(JSON.stringify({ lossRate: 0.05, ...measure(20, Math.min(runs, 20), 0.05) }));
}
