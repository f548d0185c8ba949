import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { MemoryLogStore } from "../storage/memoryLogStore.ts";
import { Harness } from "../scenarios/harness.ts";
import { bootstrapSnapshot, simpleConfState } from "./bootstrap.ts";
import { defaultRaftConfig } from "./config.ts";
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from "./errors.ts";
import { RawNode } from "./rawNode.ts";

const enc = new TextEncoder();

function elected(config = {}): Harness {
  const h = new Harness({ config });
  h.addNodes(["1", "2", "3"]);
  h.campaign("1");
  h.stabilize();
  return h;
}

function count(h: Harness, re: RegExp, fromLine = 0): number {
  return h.transcript.slice(fromLine).filter((l) => re.test(l)).length;
}

Deno.test("config: lease-based reads require check-quorum; timers are validated", () => {
  const store = new MemoryLogStore();
  store.write([{ groupId: "g", snapshot: bootstrapSnapshot(simpleConfState(["1"])) }]);
  throws(
    () =>
      new RawNode(
        defaultRaftConfig("1", { readOnlyOption: "lease-based", checkQuorum: false }),
        store.group("g"),
      ),
    /lease-based requires checkQuorum/,
  );
  throws(
    () =>
      new RawNode(
        defaultRaftConfig("1", { electionTicks: 2, heartbeatTicks: 2 }),
        store.group("g"),
      ),
    /electionTicks/,
  );
  throws(
    () => new RawNode(defaultRaftConfig("1", { maxInflightMsgs: 0 }), store.group("g")),
    /maxInflightMsgs/,
  );
});

Deno.test("single voter: elects itself, commits and answers reads at once", () => {
  const store = new MemoryLogStore();
  store.write([{ groupId: "g", snapshot: bootstrapSnapshot(simpleConfState(["1"])) }]);
  const n = new RawNode(defaultRaftConfig("1"), store.group("g"));
  n.campaign();
  strictEqual(n.status().raftState, "leader");
  const pos = n.propose(enc.encode("x"));
  deepStrictEqual(pos, { index: 3, term: 1 });
  n.readIndex(enc.encode("r"));
  const rd = n.ready();
  deepStrictEqual(rd.committedEntries.map((e) => e.index), [2, 3]);
  deepStrictEqual(rd.readStates.map((r) => r.index), [3]);
  throws(() => n.ready(), /before advance/);
  store.write([{ groupId: "g", entries: rd.entries, hardState: rd.hardState }]);
  n.advance(rd);
  strictEqual(n.status().applied, 3);
  ok(!n.hasReady());
});

Deno.test("proposals: NotLeaderError with the hint when forwarding is disabled", () => {
  const h = elected({ disableProposalForwarding: true });
  throws(() => h.node("2").raw.propose(enc.encode("x")), (e: unknown) => {
    ok(e instanceof NotLeaderError);
    strictEqual(e.leaderHint, "1");
    return true;
  });
  throws(() => h.node("2").raw.readIndex(enc.encode("r")), NotLeaderError);
});

Deno.test("proposals: a follower forwards to the leader by default", () => {
  const h = elected();
  strictEqual(h.node("2").raw.propose(enc.encode("fwd")), null);
  h.stabilize();
  deepStrictEqual(h.node("3").applied, ["fwd"]);
});

Deno.test("proposals: without a leader, NotLeaderError with no hint", () => {
  const h = new Harness();
  h.addNodes(["1", "2", "3"]);
  throws(() => h.node("1").raw.propose(enc.encode("x")), (e: unknown) => {
    ok(e instanceof NotLeaderError);
    strictEqual(e.leaderHint, null);
    return true;
  });
});

Deno.test("proposals: dropped while a leader transfer is in progress", () => {
  const h = elected();
  h.isolate("3");
  h.node("1").raw.propose(enc.encode("x"));
  h.stabilize();
  h.transferLeader("1", "3"); // 3 is behind: the transfer waits for it to catch up
  throws(() => h.node("1").raw.propose(enc.encode("y")), ProposalDroppedError);
  // The transfer is abandoned after an election timeout; proposals flow again.
  h.tick(10, ["1"]);
  strictEqual(h.node("1").raw.status().leadTransferee, null);
  ok(h.node("1").raw.propose(enc.encode("z")) !== null);
});

Deno.test("proposals: uncommitted bytes are bounded (backpressure)", () => {
  const h = elected({ maxUncommittedEntriesBytes: 100 });
  h.isolate("1");
  let accepted = 0;
  let dropped = 0;
  for (let i = 0; i < 20; i++) {
    try {
      h.node("1").raw.propose(new Uint8Array(30));
      accepted++;
    } catch (e) {
      ok(e instanceof ProposalDroppedError);
      dropped++;
    }
  }
  strictEqual(accepted, 3, "30+30+30 fit; the 4th would exceed 100 bytes");
  strictEqual(dropped, 17);
});

Deno.test("membership: a second change is refused while one is pending", () => {
  const h = elected();
  h.isolate("1");
  h.node("1").raw.proposeConfChange({
    transition: "auto",
    changes: [{ type: "add-learner", replicaId: "4" }],
  });
  throws(
    () =>
      h.node("1").raw.proposeConfChange({
        transition: "auto",
        changes: [{ type: "add-learner", replicaId: "5" }],
      }),
    ConfChangeError,
  );
});

Deno.test("replication: in-flight appends per follower are bounded by count", () => {
  const h = elected({ maxInflightMsgs: 3 });
  h.partition(["1"], ["2"]);
  const mark = h.transcript.length;
  for (let i = 0; i < 10; i++) h.propose("1", `e${i}`);
  h.stabilize();
  strictEqual(count(h, /^ {2}1->2 MsgApp .*entries=/, mark), 3);
  strictEqual(h.node("3").applied.length, 10, "the healthy follower is not held back");
});

Deno.test("replication: in-flight appends per follower are bounded by bytes", () => {
  const h = elected({ maxInflightBytes: 10 });
  h.partition(["1"], ["2"]);
  const mark = h.transcript.length;
  for (let i = 0; i < 10; i++) h.propose("1", `e-${i}`); // 3 bytes each
  h.stabilize();
  strictEqual(count(h, /^ {2}1->2 MsgApp .*entries=/, mark), 4, "3+3+3 < 10, the 4th fills it");
});

Deno.test("replication: fast back-off resolves a long divergent tail in few round trips", () => {
  const h = elected();
  h.isolate("1");
  for (let i = 0; i < 30; i++) h.propose("1", `old${i}`);
  h.stabilize();
  h.tickUntil(() => h.leader() === "2" || h.leader() === "3", 100, ["2", "3"]);
  const leader = h.leader()!;
  for (let i = 0; i < 30; i++) h.propose(leader, `new${i}`);
  h.stabilize();
  h.heal();
  const mark = h.transcript.length;
  h.tickUntil(() => h.node("1").applied.length === 30, 50);
  const rejects = count(h, /^ {2}1->\d MsgAppResp .*reject/, mark);
  ok(rejects <= 2, `expected at most 2 rejections with term back-off, got ${rejects}`);
  deepStrictEqual(h.node("1").applied, h.node(leader).applied);
});

Deno.test("reads: safe read index needs a heartbeat round; followers forward", () => {
  const h = elected();
  h.propose("1", "x");
  h.stabilize();
  h.readIndex("1", "r1");
  strictEqual(h.node("1").reads.get("r1"), undefined, "not before a quorum confirmed");
  h.stabilize();
  strictEqual(h.node("1").reads.get("r1"), 3);
  h.readIndex("2", "r2");
  h.stabilize();
  strictEqual(h.node("2").reads.get("r2"), 3);
});

Deno.test("reads: an isolated leader cannot confirm a safe read", () => {
  const h = elected();
  h.isolate("1");
  h.readIndex("1", "r");
  h.stabilize();
  strictEqual(h.node("1").reads.get("r"), undefined);
});

Deno.test("reads: lease-based reads answer without a round trip while the lease holds", () => {
  const h = new Harness({ config: { readOnlyOption: "lease-based" } });
  h.addNodes(["1", "2", "3"]);
  h.campaign("1");
  h.stabilize();
  strictEqual(h.leader(), null, "freshly started replicas abstain for an election timeout");
  h.tickUntil(() => h.leader() !== null, 50);
  const leader = h.leader()!;
  h.tick(1);
  h.stabilize(); // a heartbeat round establishes the lease
  h.readIndex(leader, "r");
  strictEqual(h.node(leader).reads.get("r"), h.node(leader).raw.status().commit);
  ok(!h.inFlight.some((m) => m.type === "MsgHeartbeat"), "no round trip");
  h.log("# isolated, the leader's lease runs out after electionTicks - 2 ticks");
  h.isolate(leader);
  h.tick(7, [leader]);
  h.readIndex(leader, "r2");
  ok(h.node(leader).reads.has("r2"), "still within the lease");
  h.tick(1, [leader]);
  h.readIndex(leader, "r3");
  h.stabilize();
  ok(!h.node(leader).reads.has("r3"), "lease expired: falls back to a quorum round, which fails");
});

Deno.test("reads: no lease read is served once another leader can exist (seeded sweep)", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const h = new Harness({ seed, config: { readOnlyOption: "lease-based" } });
    h.addNodes(["1", "2", "3"]);
    h.tickUntil(() => h.leader() !== null, 60);
    const old = h.leader()!;
    const others = ["1", "2", "3"].filter((id) => id !== old);
    h.tick(1);
    h.stabilize();
    h.isolate(old);
    for (let t = 0; t < 60; t++) {
      h.tick(1);
      h.stabilize();
      const newLeader = others.find((id) => h.node(id).raw.status().raftState === "leader");
      if (h.node(old).raw.status().raftState === "leader") {
        const ctx = `s${seed}t${t}`;
        h.readIndex(old, ctx);
        if (h.node(old).reads.has(ctx)) {
          strictEqual(
            newLeader,
            undefined,
            `seed ${seed}: lease read on ${old} while ${newLeader} leads`,
          );
        }
      }
      if (newLeader !== undefined) break;
    }
  }
});

Deno.test("reads: a leader transfer voids the lease", () => {
  const h = new Harness({ config: { readOnlyOption: "lease-based" } });
  h.addNodes(["1", "2", "3"]);
  h.tickUntil(() => h.leader() !== null, 50);
  const leader = h.leader()!;
  const other = ["1", "2", "3"].find((id) => id !== leader)!;
  h.tick(1);
  h.stabilize();
  h.partition([leader], ["1", "2", "3"].filter((id) => id !== leader && id !== other));
  h.transferLeader(leader, other);
  h.readIndex(leader, "r");
  ok(!h.node(leader).reads.has("r"), "no lease read during a transfer");
});

Deno.test("reads: a new leader answers only after committing an entry of its term", () => {
  const h = elected();
  h.propose("1", "x");
  h.stabilize();
  h.transferLeader("1", "2");
  for (let i = 0; i < 10 && h.node("2").raw.status().raftState !== "leader"; i++) h.deliver();
  strictEqual(h.node("2").raw.status().raftState, "leader");
  strictEqual(
    h.node("2").raw.status().commit,
    3,
    "its term-2 entry (index 4) is not committed yet",
  );
  h.readIndex("2", "early");
  strictEqual(h.node("2").reads.get("early"), undefined);
  h.stabilize();
  strictEqual(h.node("2").reads.get("early"), 4);
});

Deno.test("snapshots: lost chunks are re-sent after snapshotTimeoutTicks", () => {
  const h = new Harness({ config: { maxSnapshotChunkBytes: 4, snapshotTimeoutTicks: 5 } });
  h.addNodes(["1", "2", "3"]);
  h.campaign("1");
  h.stabilize();
  h.crash("3");
  for (const c of ["a", "b", "c"]) h.propose("1", c);
  h.stabilize();
  h.compact("1");
  h.restart("3");
  h.tick(1);
  for (let i = 0; i < 10 && !h.inFlight.some((m) => m.type === "MsgSnap"); i++) h.deliver();
  ok(h.inFlight.some((m) => m.type === "MsgSnap"));
  h.dropInFlight();
  h.tickUntil(() => h.node("3").applied.length === 3, 20);
  deepStrictEqual(h.node("3").applied, ["a", "b", "c"]);
});

Deno.test("elections: randomized timeouts replay exactly from the seed", () => {
  const run = (seed: number) => {
    const h = new Harness({ seed });
    h.addNodes(["1", "2", "3", "4", "5"]);
    h.tickUntil(() => h.leader() !== null, 100);
    return h.output();
  };
  strictEqual(run(7), run(7));
  ok(run(7) !== run(8) || run(7) !== run(9), "different seeds give different schedules");
});

Deno.test("learners: a learner's ack does not count toward commit", () => {
  const h = elected();
  h.addNodes(["4"], []);
  h.proposeConfChange("1", {
    transition: "auto",
    changes: [{ type: "add-learner", replicaId: "4" }],
  });
  h.stabilize();
  h.partition(["1"], ["2", "3"]);
  const before = h.node("1").raw.status().commit;
  h.propose("1", "x");
  h.stabilize();
  strictEqual(h.node("4").raw.status().lastIndex, h.node("1").raw.status().lastIndex);
  strictEqual(h.node("1").raw.status().commit, before, "leader + learner is not a quorum");
});

Deno.test("forced recovery with two survivors of five: both adopt the new voters", () => {
  const h = new Harness();
  h.addNodes(["1", "2", "3", "4", "5"]);
  h.campaign("1");
  h.stabilize();
  h.propose("1", "a");
  h.stabilize();
  for (const id of ["3", "4", "5"]) h.crash(id);
  h.tickUntil(() => h.node("1").raw.status().raftState !== "leader", 40, ["1", "2"]);
  h.forceRecovery("2", ["1", "2"]);
  h.tickUntil(() => h.leader() === "2", 60, ["1", "2"]);
  h.propose("2", "b");
  h.stabilize();
  for (const id of ["1", "2"]) {
    deepStrictEqual(h.node(id).raw.status().confState.voters, ["1", "2"]);
    deepStrictEqual(h.node(id).applied, ["a", "b"]);
  }
  throws(() => h.node("1").raw.forceRecovery(["2"]), ConfChangeError);
});
