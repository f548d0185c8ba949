/**
 * Seeded membership scenarios (3 to 20 nodes): join convergence, crash detection,
 * restart, no false positives without faults, pause past the suspicion timeout,
 * partition and heal, message loss. Each failure message names the seed.
 */

import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { allSee, allSeeAllAlive, MembershipSim, simIds } from "./membershipSim.ts";
import { measure } from "./report.ts";
import { createSeededRandom, randomInt } from "../rng.ts";

const SEEDS = [1, 2, 3, 19, 20, 22, 26];

function startCluster(sim: MembershipSim, ids: string[], staggerMs = 100): void {
  const seeds = ids.slice(0, 2);
  for (const id of ids) {
    sim.start(id, seeds);
    sim.runFor(staggerMs);
  }
}

function deadDeclaredAbout(sim: MembershipSim, ids: readonly string[]): number {
  const set = new Set(ids);
  return sim.events.filter((e) => e.event.kind === "dead" && set.has(e.event.member.id)).length;
}

for (const n of [3, 5, 20]) {
  Deno.test(`sim: ${n} nodes all learn each other within a bound, no false positives`, () => {
    for (const seed of SEEDS) {
      const sim = new MembershipSim({ seed });
      const ids = simIds(n);
      startCluster(sim, ids);
      const joinedIn = sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000);
      assert(joinedIn !== undefined, `seed ${seed}: ${n} nodes did not converge in 15 s`);
      sim.runFor(120_000);
      assert(allSeeAllAlive(sim, ids), `seed ${seed}: view diverged`);
      assertEquals(deadDeclaredAbout(sim, ids), 0, `seed ${seed}: false dead with no faults`);
      const suspects = sim.events.filter((e) => e.event.kind === "suspect").length;
      assertEquals(suspects, 0, `seed ${seed}: suspicion with no faults`);
    }
  });
}

Deno.test("sim: 5 nodes, a crashed node is declared dead by all, restart makes it alive", () => {
  for (const seed of SEEDS) {
    const sim = new MembershipSim({ seed });
    const ids = simIds(5);
    startCluster(sim, ids);
    assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000) !== undefined, `seed ${seed}`);
    sim.runFor(5_000);
    const victim = ids[3];
    const others = ids.filter((id) => id !== victim);
    sim.crash(victim);
    const detectedIn = sim.runUntil(() => allSee(sim, others, victim, "dead"), 30_000);
    assert(detectedIn !== undefined, `seed ${seed}: crash not detected in 30 s`);
    assert(detectedIn <= 10_000, `seed ${seed}: detection took ${detectedIn} ms`);
    sim.runFor(3_000);
    sim.restart(victim);
    const backIn = sim.runUntil(() => allSeeAllAlive(sim, ids), 10_000);
    assert(backIn !== undefined, `seed ${seed}: restarted node not alive everywhere in 10 s`);
    assert(sim.view(others[0]).find((m) => m.id === victim)!.incarnation > 1);
    // A probe that was in flight before the restart must not accuse the new incarnation.
    const since = sim.nowMs;
    sim.runFor(20_000);
    const late = sim.events.filter((e) =>
      e.atMs >= since && (e.event.kind === "suspect" || e.event.kind === "dead")
    );
    assertEquals(late.length, 0, `seed ${seed}: suspicion after the restart`);
  }
});

Deno.test("sim: a node paused past its suspicion timeout refutes on return", () => {
  for (const seed of SEEDS) {
    const sim = new MembershipSim({ seed });
    const ids = simIds(5);
    startCluster(sim, ids);
    assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000) !== undefined, `seed ${seed}`);
    const victim = ids[2];
    const others = ids.filter((id) => id !== victim);
    const incBefore = sim.view(victim).find((m) => m.id === victim)!.incarnation;
    sim.pause(victim);
    assert(
      sim.runUntil(() => allSee(sim, others, victim, "dead"), 30_000) !== undefined,
      `seed ${seed}: paused node not declared dead`,
    );
    sim.runFor(2_000);
    sim.resume(victim);
    const backIn = sim.runUntil(() => allSeeAllAlive(sim, ids), 45_000);
    assert(backIn !== undefined, `seed ${seed}: paused node did not come back`);
    const refuted = sim.events.some((e) =>
      e.observer === victim && e.event.kind === "refuted" && e.atMs >= sim.nowMs - backIn
    );
    assert(refuted, `seed ${seed}: no refutation by the paused node`);
    assert(sim.view(others[0]).find((m) => m.id === victim)!.incarnation > incBefore);
  }
});

Deno.test("sim: 10 nodes, a healed partition merges into one member list", () => {
  for (const seed of SEEDS) {
    const sim = new MembershipSim({ seed });
    const ids = simIds(10);
    startCluster(sim, ids);
    assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000) !== undefined, `seed ${seed}`);
    const a = ids.slice(0, 4);
    const b = ids.slice(4);
    sim.partition([a, b]);
    const split = sim.runUntil(
      () =>
        b.every((id) => allSee(sim, a, id, "dead")) && a.every((id) => allSee(sim, b, id, "dead")),
      60_000,
    );
    assert(split !== undefined, `seed ${seed}: sides did not declare each other dead`);
    sim.runFor(60_000);
    sim.heal();
    const mergedIn = sim.runUntil(() => allSeeAllAlive(sim, ids), 60_000);
    assert(mergedIn !== undefined, `seed ${seed}: partition did not merge within 60 s`);
    console.log(
      `seed ${seed}: partition (4 | 6 nodes, 60 s+) merged ${Math.round(mergedIn)} ms after heal`,
    );
  }
});

Deno.test("sim: 20 nodes with 5% loss converge, detect a crash, and stay free of false deaths", () => {
  for (const seed of SEEDS) {
    const sim = new MembershipSim({ seed, lossRate: 0.05 });
    const ids = simIds(20);
    startCluster(sim, ids, 50);
    assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 20_000) !== undefined, `seed ${seed}`);
    sim.runFor(60_000);
    assertEquals(deadDeclaredAbout(sim, ids), 0, `seed ${seed}: false dead under 5% loss`);
    const victim = ids[7];
    sim.crash(victim);
    const others = ids.filter((id) => id !== victim);
    const detectedIn = sim.runUntil(() => allSee(sim, others, victim, "dead"), 30_000);
    assert(detectedIn !== undefined, `seed ${seed}: crash not detected under loss`);
    sim.runFor(30_000);
    assertEquals(deadDeclaredAbout(sim, others), 0, `seed ${seed}: false dead under loss`);
  }
});

Deno.test("sim: a graceful leave is seen as left by all", () => {
  const sim = new MembershipSim({ seed: 7 });
  const ids = simIds(5);
  startCluster(sim, ids);
  assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000) !== undefined);
  const leaver = ids[4];
  sim.leave(leaver);
  const others = ids.slice(0, 4);
  const seen = sim.runUntil(() => allSee(sim, others, leaver, "left"), 10_000);
  assert(seen !== undefined, "leave not seen by all");
  assertEquals(deadDeclaredAbout(sim, others), 0);
});

Deno.test("sim: steady-state gossip bytes per node (printed) stay small", () => {
  for (const n of [5, 20]) {
    const r = measure(n, 3);
    console.log(
      `${n} nodes: ${r.steadyBytesPerSecPerNode} B/s per node, detect p50 ${
        Math.round(r.detectP50Ms)
      } ms`,
    );
    assert(r.steadyBytesPerSecPerNode < 100 * n, `${n} nodes: ${r.steadyBytesPerSecPerNode} B/s`);
    assertEquals(r.falseDeaths, 0);
  }
});

Deno.test("sim: chaos (crash, restart, pause, partition, loss) then heal → one member list", () => {
  // CLUSTER_SIM_CHAOS_RUNS=200 for a longer search; a failure names its seed.
  const runs = Number(Deno.env.get("CLUSTER_SIM_CHAOS_RUNS") ?? 5);
  for (let seed = 101; seed < 101 + runs; seed++) {
    const rng = createSeededRandom(seed);
    const sim = new MembershipSim({ seed });
    const ids = simIds(12);
    startCluster(sim, ids, 50);
    assert(sim.runUntil(() => allSeeAllAlive(sim, ids), 15_000) !== undefined, `seed ${seed}`);
    const crashed = new Set<string>();
    const paused = new Set<string>();
    // Safety phase: 40 random faults, one every 0.5–5 s.
    for (let step = 0; step < 40; step++) {
      const id = ids[randomInt(rng, ids.length)];
      switch (randomInt(rng, 6)) {
        case 0:
          if (!crashed.has(id) && !paused.has(id) && crashed.size < 4) {
            sim.crash(id);
            crashed.add(id);
          }
          break;
        case 1:
          if (crashed.has(id)) {
            sim.restart(id);
            crashed.delete(id);
          }
          break;
        case 2:
          if (!crashed.has(id) && !paused.has(id)) {
            sim.pause(id);
            paused.add(id);
          }
          break;
        case 3:
          if (paused.has(id)) {
            sim.resume(id);
            paused.delete(id);
          }
          break;
        case 4: {
          const cut = 1 + randomInt(rng, ids.length - 1);
          const shuffled = [...ids].sort(() => rng.next() - 0.5);
          sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
          break;
        }
        case 5:
          sim.heal();
          sim.setLossRate(rng.next() * 0.2);
          break;
      }
      sim.runFor(500 + randomInt(rng, 4500));
    }
    // Liveness phase: remove every fault; all nodes must agree within the bound.
    sim.heal();
    sim.setLossRate(0);
    for (const id of paused) sim.resume(id);
    for (const id of crashed) sim.restart(id);
    const mergedIn = sim.runUntil(() => allSeeAllAlive(sim, ids), 90_000);
    assert(mergedIn !== undefined, `seed ${seed}: no single member list 90 s after healing`);
  }
});
