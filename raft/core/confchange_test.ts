import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import fc from "fast-check";
import { applyConfChangeTo, Changer, checkInvariants, restoreConfState } from "./confchange.ts";
import { ConfChangeError } from "./errors.ts";
import { ProgressTracker } from "./tracker.ts";
import type { ConfChange, ConfChangeSingle } from "./types.ts";

function tracker(voters: string[], learners: string[] = []): ProgressTracker {
  const t = new ProgressTracker(10, 1000);
  const r = restoreConfState(t, 10, {
    voters,
    learners,
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
  t.config = r.config;
  t.progress = r.progress;
  return t;
}

function apply(t: ProgressTracker, cc: ConfChange): void {
  const r = applyConfChangeTo(t, 10, cc);
  t.config = r.config;
  t.progress = r.progress;
}

const add = (id: string): ConfChangeSingle => ({ type: "add-node", replicaId: id });
const remove = (id: string): ConfChangeSingle => ({ type: "remove-node", replicaId: id });
const learner = (id: string): ConfChangeSingle => ({ type: "add-learner", replicaId: id });

Deno.test("confchange: a simple change may alter only one voter", () => {
  const t = tracker(["1", "2", "3"]);
  throws(() => new Changer(t, 10).simple([add("4"), add("5")]), /more than one voter/);
  throws(() => new Changer(t, 10).simple([remove("1"), add("5")]), /more than one voter/);
  // Learners are free: one voter plus any learners is still simple.
  new Changer(t, 10).simple([add("4"), learner("5"), learner("6")]);
});

Deno.test("confchange: add voter, add learner, promote, demote, remove", () => {
  const t = tracker(["1", "2", "3"]);
  apply(t, { transition: "auto", changes: [learner("4")] });
  deepStrictEqual(t.confState().learners, ["4"]);
  apply(t, { transition: "auto", changes: [add("4")] }); // promote
  deepStrictEqual(t.confState().voters, ["1", "2", "3", "4"]);
  deepStrictEqual(t.confState().learners, []);
  apply(t, { transition: "auto", changes: [learner("4")] }); // demote
  deepStrictEqual(t.confState().voters, ["1", "2", "3"]);
  deepStrictEqual(t.confState().learners, ["4"]);
  ok(t.progress.get("4")!.isLearner);
  apply(t, { transition: "auto", changes: [remove("4")] });
  ok(!t.progress.has("4"));
});

Deno.test("confchange: replace through joint consensus; demotion waits in learnersNext", () => {
  const t = tracker(["1", "2", "3"]);
  apply(t, { transition: "auto", changes: [add("4"), learner("1")] });
  const cs = t.confState();
  deepStrictEqual(cs.voters, ["2", "3", "4"]);
  deepStrictEqual(cs.votersOutgoing, ["1", "2", "3"]);
  deepStrictEqual(cs.learnersNext, ["1"], "1 keeps voting in the outgoing half");
  ok(cs.autoLeave);
  ok(!t.progress.get("1")!.isLearner);
  throws(() => apply(t, { transition: "auto", changes: [add("5")] }), ConfChangeError);
  apply(t, { transition: "auto", changes: [] }); // leave joint
  const after = t.confState();
  deepStrictEqual(after.voters, ["2", "3", "4"]);
  deepStrictEqual(after.votersOutgoing, []);
  deepStrictEqual(after.learners, ["1"]);
  ok(t.progress.get("1")!.isLearner);
});

Deno.test("confchange: explicit transition does not auto-leave; leaving a non-joint config fails", () => {
  const t = tracker(["1", "2", "3"]);
  throws(() => apply(t, { transition: "auto", changes: [] }), ConfChangeError);
  apply(t, { transition: "explicit", changes: [add("4")] });
  strictEqual(t.confState().autoLeave, false);
  ok(t.isJoint());
});

Deno.test("confchange: removing every voter is refused", () => {
  const t = tracker(["1"]);
  throws(() => apply(t, { transition: "auto", changes: [remove("1")] }), ConfChangeError);
  deepStrictEqual(t.confState().voters, ["1"], "a refused change leaves the config untouched");
});

Deno.test("confchange: random change sequences keep the invariants (property)", () => {
  const ids = ["1", "2", "3", "4", "5", "6"];
  const single = fc.record({
    type: fc.constantFrom("add-node" as const, "remove-node" as const, "add-learner" as const),
    replicaId: fc.constantFrom(...ids),
  });
  const change = fc.record({
    transition: fc.constantFrom("auto" as const, "implicit" as const, "explicit" as const),
    changes: fc.array(single, { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(change, { maxLength: 20 }), (ccs) => {
      const t = tracker(["1", "2", "3"]);
      for (const cc of ccs) {
        const before = JSON.stringify(t.confState());
        try {
          apply(t, cc);
        } catch (e) {
          if (!(e instanceof ConfChangeError)) throw e;
          strictEqual(JSON.stringify(t.confState()), before);
          continue;
        }
        checkInvariants(t.config, t.progress);
        ok(t.config.voters.size > 0, "never zero voters");
        for (const id of t.config.learners) ok(t.progress.get(id)!.isLearner);
        for (const id of t.config.voters) ok(!t.progress.get(id)!.isLearner);
      }
    }),
    { numRuns: 300 },
  );
});
