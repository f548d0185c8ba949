/**
 * A small seeded chaos run over the scenario harness (the full simulator
 * lives in raft/sim/): random partitions, crashes, message loss, duplication
 * and reordering, compaction and proposals; safety checked after every step,
 * then liveness after healing.
 */

import { ok } from "node:assert/strict";
import { seededRandom } from "../core/config.ts";
import { Harness } from "./harness.ts";

/** Seeds, first seed and steps per seed (override with CHAOS_SEEDS / CHAOS_START / CHAOS_STEPS). */
const SEEDS = Number(Deno.env.get("CHAOS_SEEDS") ?? "60");
const START = Number(Deno.env.get("CHAOS_START") ?? "1");
const STEPS = Number(Deno.env.get("CHAOS_STEPS") ?? "300");
const IDS = ["1", "2", "3", "4", "5", "6"];
const CHANGE_TYPES = ["add-node", "remove-node", "add-learner"] as const;

function runSeed(seed: number): Record<string, number> {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const h = new Harness({
    seed,
    traceMessages: false,
    dropRate: 0.1,
    duplicateRate: 0.05,
    reorder: true,
    config: {
      maxSnapshotChunkBytes: 64,
      snapshotTimeoutTicks: 20,
      // Vary the election options across seeds.
      preVote: seed % 2 === 0,
      checkQuorum: seed % 3 !== 0,
      readOnlyOption: seed % 3 !== 0 && seed % 4 === 1 ? "lease-based" : "safe",
      // Small windows stress flow control (a lost append must not stall it).
      maxInflightMsgs: seed % 5 === 0 ? 1 : seed % 5 === 1 ? 4 : 256,
      maxInflightBytes: seed % 7 === 0 ? 256 : 16 << 20,
    },
  });
  h.addNodes(IDS.slice(0, 5));
  h.addNodes(["6"], []);
  const down = new Set<string>();
  const leaders = new Map<number, string>();
  let seq = 0;
  /** Read context -> the highest commit index any replica knew when it was issued. */
  const readFloor = new Map<string, number>();
  let readsAnswered = 0;
  const maxCommit = () => Math.max(...IDS.map((id) => h.node(id).raw.status().commit));
  const checkReads = () => {
    for (const id of IDS) {
      for (const [ctx, index] of h.node(id).reads) {
        const floor = readFloor.get(ctx);
        if (floor === undefined) continue;
        readFloor.delete(ctx);
        readsAnswered++;
        if (index < floor) {
          throw new Error(`seed ${seed}: read ${ctx} at ${id} got index ${index} < ${floor}`);
        }
      }
    }
  };
  const checkElectionSafety = () => {
    for (const id of IDS) {
      if (down.has(id)) continue;
      const s = h.node(id).raw.status();
      if (s.raftState !== "leader") continue;
      const prev = leaders.get(s.term);
      if (prev !== undefined && prev !== id) {
        throw new Error(`seed ${seed}: two leaders in term ${s.term}: ${prev} and ${id}`);
      }
      leaders.set(s.term, id);
    }
  };
  for (let step = 0; step < STEPS; step++) {
    const r = rnd();
    if (r < 0.45) {
      h.tick(1);
    } else if (r < 0.7) {
      const leader = h.leader();
      const target = leader !== null && rnd() < 0.8 ? leader : pick(IDS);
      if (!down.has(target)) h.propose(target, `c${seq++}`);
    } else if (r < 0.8) {
      h.deliver();
    } else if (r < 0.85) {
      h.heal();
      const side = IDS.filter(() => rnd() < 0.4);
      if (side.length > 0 && side.length < IDS.length) {
        h.partition(side, IDS.filter((x) => !side.includes(x)));
      }
    } else if (r < 0.9) {
      const id = pick(IDS);
      if (down.has(id)) {
        h.restart(id);
        down.delete(id);
      } else if (down.size < 2) {
        h.crash(id);
        down.add(id);
      }
    } else if (r < 0.93) {
      const id = pick(IDS);
      if (!down.has(id) && h.node(id).appliedIndex > 1) h.compact(id);
    } else if (r < 0.96) {
      const leader = h.leader();
      if (leader !== null) {
        const n = rnd() < 0.3 ? 2 : 1;
        const changes = Array.from({ length: n }, () => ({
          type: pick(CHANGE_TYPES),
          replicaId: pick(IDS),
        }));
        h.proposeConfChange(leader, { transition: "auto", changes });
      }
    } else if (r < 0.97) {
      const leader = h.leader();
      if (leader !== null) h.transferLeader(leader, pick(IDS));
    } else if (r < 0.995) {
      // Any replica that believes it leads, stale ones included.
      const leaders = IDS.filter((id) => h.node(id).raw.status().raftState === "leader");
      const target = leaders.length > 0 && rnd() < 0.8 ? pick(leaders) : pick(IDS);
      if (!down.has(target)) {
        const ctx = `r${seq++}`;
        readFloor.set(ctx, maxCommit());
        h.readIndex(target, ctx);
      }
    } else {
      h.stabilize();
    }
    checkElectionSafety();
    checkReads();
    h.checkSafety();
  }
  // Liveness: heal everything, then a leader and full convergence within a budget.
  h.heal();
  for (const id of down) h.restart(id);
  down.clear();
  try {
    h.tickUntil(() => h.leader() !== null, 200);
  } catch (e) {
    h.status();
    throw new Error(`${e}\n${h.transcript.slice(-8).join("\n")}`);
  }
  let proposedAt = 0;
  try {
    h.tickUntil(() => {
      const l = h.leader();
      if (l === null) return false;
      if (proposedAt === 0) {
        proposedAt = 1;
        h.propose(l, "final");
      }
      const want = h.node(l).applied;
      if (!want.includes("final")) {
        // The proposal may have been lost with a leader change: propose again.
        if (++proposedAt % 30 === 0) h.propose(l, "final");
        return false;
      }
      const cs = h.node(l).raw.status().confState;
      return [...cs.voters, ...cs.learners].every((id) =>
        h.node(id).applied.length === want.length
      );
    }, 600);
  } catch (e) {
    h.status();
    throw new Error(`${e}\n${h.transcript.slice(-8).join("\n")}`);
  }
  h.checkSafety();
  const l = h.leader()!;
  ok(h.node(l).applied.includes("final"));
  const countLines = (re: RegExp) => h.transcript.filter((x) => re.test(x)).length;
  return {
    leaders: countLines(/becomes leader/),
    confChanges: countLines(/ applies .* CC /),
    snapshots: countLines(/installs snapshot/),
    transfers: h.deliveredByType.get("MsgTimeoutNow") ?? 0,
    snapshotChunks: h.deliveredByType.get("MsgSnap") ?? 0,
    readsAnswered,
  };
}

Deno.test(`chaos: ${SEEDS} seeds keep election and state-machine safety, then converge`, () => {
  const totals: Record<string, number> = {};
  for (let seed = START; seed < START + SEEDS; seed++) {
    let counts: Record<string, number>;
    try {
      counts = runSeed(seed);
    } catch (e) {
      throw new Error(`seed ${seed}: ${e instanceof Error ? e.stack : String(e)}`);
    }
    for (const [k, v] of Object.entries(counts)) totals[k] = (totals[k] ?? 0) + v;
  }
  // The run must actually exercise what it claims to.
  for (const k of ["leaders", "confChanges", "snapshots", "transfers", "readsAnswered"]) {
    ok((totals[k] ?? 0) > 0, `no ${k} happened in ${SEEDS} seeds: ${JSON.stringify(totals)}`);
  }
  if (Deno.env.get("CHAOS_SEEDS") !== undefined) console.log(JSON.stringify(totals));
});
