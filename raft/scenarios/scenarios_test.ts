/**
 * Classic Raft scenarios as scripts. Each writes a transcript that is
 * compared with `testdata/<name>.txt` (run with UPDATE=1 to regenerate, then
 * review the diff) and asserts the facts that make the scenario correct.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Harness, type HarnessOptions } from "./harness.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

async function golden(name: string, h: Harness): Promise<void> {
  const url = new URL(`${name}.txt`, TESTDATA);
  const out = h.output();
  if (Deno.env.get("UPDATE") === "1") {
    await Deno.mkdir(TESTDATA, { recursive: true });
    await Deno.writeTextFile(url, out);
    return;
  }
  let want: string;
  try {
    want = await Deno.readTextFile(url);
  } catch {
    throw new Error(`missing golden file ${url.pathname}; run with UPDATE=1\n${out}`);
  }
  strictEqual(out, want, `transcript of ${name} differs from testdata (UPDATE=1 to accept)`);
}

/**
 * Voters 1, 2, 3 (plus `outsiders`, in no configuration) where 1 has won an
 * election and everything is delivered.
 */
function ledBy1(options: HarnessOptions = {}, outsiders: string[] = []): Harness {
  const h = new Harness(options);
  h.addNodes(["1", "2", "3"]);
  if (outsiders.length > 0) h.addNodes(outsiders, []);
  h.campaign("1");
  h.stabilize();
  return h;
}

function state(h: Harness, id: string) {
  return h.node(id).raw.status();
}

Deno.test("figure 8: an old-term entry on a majority is not committed and may be overwritten", async () => {
  // The paper's figure 8, with pre-vote and check-quorum off as in the paper.
  const h = new Harness({ config: { preVote: false, checkQuorum: false } });
  h.addNodes(["1", "2", "3", "4", "5"]);
  h.log("# (a) 1 leads term 1 and replicates 'a' at index 3 to 2 only");
  h.campaign("1");
  h.stabilize();
  h.partition(["1", "2"], ["3", "4", "5"]);
  h.propose("1", "a");
  h.stabilize();
  h.log("# (b) 1 crashes; 5 wins term 2 with 3 and 4, appends 'b' locally, crashes");
  h.crash("1");
  h.campaign("5");
  h.deliver();
  h.deliver();
  h.isolate("5");
  h.propose("5", "b");
  h.stabilize();
  h.crash("5");
  h.heal();
  h.log("# (c) 1 restarts, wins term 3 and copies index 3 to 3: on a majority, not committed");
  h.restart("1");
  h.campaign("1");
  h.stabilize();
  h.campaign("1");
  h.deliver();
  h.deliver();
  h.partition(["1"], ["2", "4"]);
  h.stabilize();
  h.status();
  strictEqual(state(h, "1").raftState, "leader");
  // 'a' sits at index 3 (term 1) on 1, 2 and 3 — a majority — yet is not committed.
  strictEqual(h.node("3").store.group("g").term(3), 1);
  strictEqual(state(h, "1").commit, 2, "an old-term entry must not commit by counting replicas");
  h.log("# (d) 1 crashes; 5 restarts and wins term 4 with 2 and 4, overwriting index 3");
  h.crash("1");
  h.heal();
  h.restart("5");
  h.campaign("5");
  h.stabilize();
  h.campaign("5");
  h.stabilize();
  h.status();
  strictEqual(h.leader(), "5");
  for (const id of ["2", "3", "4", "5"]) deepStrictEqual(h.node(id).applied, ["b"]);
  h.log("# 1 rejoins and its 'a' is replaced too");
  h.restart("1");
  h.tickUntil(() => state(h, "1").commit === state(h, "5").commit, 50);
  h.status();
  deepStrictEqual(h.node("1").applied, ["b"]);
  h.checkSafety();
  await golden("figure8", h);
});

Deno.test("a leader isolated by a partition is replaced; its uncommitted entry is discarded", async () => {
  const h = ledBy1();
  h.propose("1", "x");
  h.stabilize();
  h.isolate("1");
  h.propose("1", "lost");
  h.stabilize();
  h.log("# the majority side elects a new leader; check-quorum makes 1 step down");
  h.tickUntil(
    () => h.leader() !== "1" && h.leader() !== null && state(h, "1").raftState !== "leader",
    100,
  );
  h.status();
  const newLeader = h.leader();
  ok(newLeader === "2" || newLeader === "3");
  strictEqual(state(h, "1").raftState, "follower");
  h.propose(newLeader, "y");
  h.stabilize();
  h.heal();
  h.tickUntil(() => state(h, "1").commit === state(h, newLeader).commit, 50);
  h.status();
  for (const id of ["1", "2", "3"]) deepStrictEqual(h.node(id).applied, ["x", "y"]);
  h.checkSafety();
  await golden("leader_isolated", h);
});

Deno.test("pre-vote keeps a rejoining node from disrupting a healthy leader", async () => {
  const h = new Harness({ config: { checkQuorum: false, preVote: true } });
  h.log("# with pre-vote: the isolated node cannot win a pre-vote, so its term stays");
  h.addNodes(["1", "2", "3"]);
  h.campaign("1");
  h.stabilize();
  h.isolate("3");
  h.tick(40, ["3"]);
  h.status();
  strictEqual(state(h, "3").term, 1);
  h.heal();
  h.tick(1);
  h.stabilize();
  h.status();
  strictEqual(h.leader(), "1");
  strictEqual(state(h, "1").term, 1);

  h.log("# without pre-vote: the rejoining node's higher term deposes the leader");
  const b = ledBy1({ config: { checkQuorum: false, preVote: false } });
  b.isolate("3");
  b.tick(40, ["3"]);
  b.heal();
  b.tick(1);
  b.stabilize();
  b.status();
  ok(state(b, "1").term > 1, "leader's term was bumped by the disruptive node");
  h.transcript.push(...b.transcript);
  await golden("prevote", h);
});

Deno.test("check-quorum: a leader that cannot hear a quorum steps down", async () => {
  const h = ledBy1();
  h.isolate("1");
  h.log("# only 1 ticks: it hears no one for an election timeout");
  h.tickUntil(() => state(h, "1").raftState !== "leader", 25, ["1"]);
  h.status();
  strictEqual(state(h, "1").raftState, "follower");
  strictEqual(state(h, "1").lead, null);
  h.log("# 2 and 3 still consider 1 their leader and ignore a vote request (lease)");
  h.heal();
  h.campaign("1");
  h.stabilize();
  h.status();
  await golden("check_quorum", h);
});

Deno.test("replacing the leader through joint consensus", async () => {
  const h = ledBy1({}, ["4"]);
  h.propose("1", "x");
  h.stabilize();
  h.log("# replace 1 by 4 in one change: enter joint [2,3,4]&&[1,2,3], leave automatically;");
  h.log("# once removed, 1 hands leadership to the most up-to-date voter");
  h.proposeConfChange("1", {
    transition: "auto",
    changes: [{ type: "add-node", replicaId: "4" }, { type: "remove-node", replicaId: "1" }],
  });
  h.stabilize();
  h.status();
  strictEqual(state(h, "1").raftState, "follower", "the removed leader hands leadership off");
  deepStrictEqual(state(h, "2").confState.voters, ["2", "3", "4"]);
  deepStrictEqual(state(h, "2").confState.votersOutgoing, []);
  h.log("# the new configuration elects a leader among 2, 3, 4");
  h.tickUntil(() => h.leader() !== null && h.leader() !== "1", 100, ["2", "3", "4"]);
  const leader = h.leader();
  ok(leader !== null && leader !== "1");
  h.propose(leader, "y");
  h.stabilize();
  h.status();
  for (const id of ["2", "3", "4"]) deepStrictEqual(h.node(id).applied, ["x", "y"]);
  h.checkSafety();
  await golden("replace_leader_joint", h);
});

Deno.test("snapshot catch-up of a lagging follower, in bounded chunks", async () => {
  const h = ledBy1({ config: { maxSnapshotChunkBytes: 16 } });
  h.crash("3");
  for (const c of ["a=1", "b=2", "c=3", "d=4"]) h.propose("1", c);
  h.stabilize();
  h.compact("1");
  h.compact("2");
  h.propose("1", "e=5");
  h.stabilize();
  h.restart("3");
  h.log("# 3 needs entries the leader compacted: it gets the snapshot in 16-byte chunks");
  h.tickUntil(() => state(h, "3").applied === state(h, "1").commit, 30);
  h.status();
  deepStrictEqual(h.node("3").applied, ["a=1", "b=2", "c=3", "d=4", "e=5"]);
  ok(h.transcript.some((l) => l.includes("3 installs snapshot")));
  h.checkSafety();
  await golden("snapshot_catchup", h);
});

Deno.test("learner promotion", async () => {
  const h = ledBy1({}, ["4"]);
  h.propose("1", "x");
  h.proposeConfChange("1", {
    transition: "auto",
    changes: [{ type: "add-learner", replicaId: "4" }],
  });
  h.stabilize();
  h.status();
  deepStrictEqual(state(h, "1").confState.learners, ["4"]);
  deepStrictEqual(h.node("4").applied, ["x"]);
  h.log("# a learner never campaigns, however long it waits");
  h.isolate("4");
  h.tick(50, ["4"]);
  strictEqual(state(h, "4").raftState, "follower");
  h.heal();
  h.tick(1);
  h.stabilize();
  h.log("# promote 4 to voter (a simple change: one voter added)");
  h.proposeConfChange("1", { transition: "auto", changes: [{ type: "add-node", replicaId: "4" }] });
  h.stabilize();
  h.status();
  deepStrictEqual(state(h, "1").confState.voters, ["1", "2", "3", "4"]);
  deepStrictEqual(state(h, "1").confState.learners, []);
  h.log("# with 4 voters, 2 crashed voters block commit; 4's ack is needed");
  h.crash("2");
  h.propose("1", "y");
  h.stabilize();
  strictEqual(h.node("1").applied.at(-1), "y");
  h.checkSafety();
  await golden("learner_promotion", h);
});

Deno.test("forced recovery after losing two of three voters (lossy)", async () => {
  const h = ledBy1();
  h.propose("1", "a");
  h.stabilize();
  h.crash("2");
  h.crash("3");
  h.propose("1", "b");
  h.stabilize();
  h.log("# no quorum: b cannot commit and check-quorum deposes 1");
  h.tickUntil(() => state(h, "1").raftState !== "leader", 30, ["1"]);
  h.status();
  h.forceRecovery("1", ["1"]);
  h.stabilize();
  h.propose("1", "c");
  h.stabilize();
  h.status();
  strictEqual(state(h, "1").raftState, "leader");
  deepStrictEqual(state(h, "1").confState.voters, ["1"]);
  deepStrictEqual(h.node("1").applied, ["a", "b", "c"]);
  await golden("forced_recovery", h);
});

Deno.test("leader transfer hands leadership to an up-to-date follower", async () => {
  const h = ledBy1();
  h.propose("1", "x");
  h.stabilize();
  h.transferLeader("1", "3");
  h.propose("1", "during-transfer");
  h.stabilize();
  h.status();
  strictEqual(h.leader(), "3");
  h.propose("3", "y");
  h.stabilize();
  deepStrictEqual(h.node("1").applied, ["x", "y"]);
  await golden("leader_transfer", h);
});

Deno.test("demoting the leader to learner through joint consensus", async () => {
  const h = ledBy1({}, ["4"]);
  h.log("# 4 joins as a learner, then one change promotes 4 and demotes 1 (joint)");
  h.proposeConfChange("1", {
    transition: "auto",
    changes: [{ type: "add-learner", replicaId: "4" }],
  });
  h.stabilize();
  h.proposeConfChange("1", {
    transition: "auto",
    changes: [{ type: "add-node", replicaId: "4" }, { type: "add-learner", replicaId: "1" }],
  });
  h.stabilize();
  h.status();
  const cs = state(h, "2").confState;
  deepStrictEqual(cs.voters, ["2", "3", "4"]);
  deepStrictEqual(cs.learners, ["1"]);
  deepStrictEqual(cs.learnersNext, []);
  const leader = h.leader();
  ok(leader !== null && leader !== "1", "the demoted leader handed off");
  h.propose(leader, "after");
  h.stabilize();
  deepStrictEqual(h.node("1").applied, ["after"], "the learner still receives the log");
  h.checkSafety();
  await golden("demote_leader", h);
});
