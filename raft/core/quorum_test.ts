import { strictEqual } from "node:assert/strict";
import fc from "fast-check";
import {
  jointCommittedIndex,
  jointVoteResult,
  majorityCommittedIndex,
  majorityVoteResult,
  type VoteResult,
} from "./quorum.ts";

const ids = ["a", "b", "c", "d", "e", "f", "g"];
const subset = fc.subarray(ids, { minLength: 0, maxLength: 7 });
const acks = fc.dictionary(fc.constantFrom(...ids), fc.nat({ max: 20 }));
const votes = fc.dictionary(fc.constantFrom(...ids), fc.boolean());

/** Naive oracle: the largest i such that more than half of the voters acked >= i. */
function naiveCommitted(voters: string[], acked: Record<string, number>): number {
  if (voters.length === 0) return Infinity;
  let best = 0;
  for (let i = 0; i <= 20; i++) {
    const n = voters.filter((v) => (acked[v] ?? 0) >= i).length;
    if (n * 2 > voters.length) best = i;
  }
  return best;
}

/** Naive oracle: won if a strict majority said yes, lost if that is now impossible. */
function naiveVote(voters: string[], v: Record<string, boolean>): VoteResult {
  if (voters.length === 0) return "won";
  const yes = voters.filter((x) => v[x] === true).length;
  const undecided = voters.filter((x) => v[x] === undefined).length;
  if (yes * 2 > voters.length) return "won";
  if ((yes + undecided) * 2 > voters.length) return "pending";
  return "lost";
}

Deno.test("quorum: majority committed index matches the naive oracle", () => {
  fc.assert(fc.property(subset, acks, (voters, acked) => {
    strictEqual(
      majorityCommittedIndex(new Set(voters), (id) => acked[id]),
      naiveCommitted(voters, acked),
    );
  }));
});

Deno.test("quorum: joint committed index is the min of both halves (oracle)", () => {
  fc.assert(fc.property(subset, subset, acks, (v1, v2, acked) => {
    const got = jointCommittedIndex([new Set(v1), new Set(v2)], (id) => acked[id]);
    strictEqual(got, Math.min(naiveCommitted(v1, acked), naiveCommitted(v2, acked)));
  }));
});

Deno.test("quorum: majority and joint vote results match the naive oracle", () => {
  fc.assert(fc.property(subset, subset, votes, (v1, v2, v) => {
    strictEqual(majorityVoteResult(new Set(v1), (id) => v[id]), naiveVote(v1, v));
    const r1 = naiveVote(v1, v);
    const r2 = naiveVote(v2, v);
    const want: VoteResult = r1 === "lost" || r2 === "lost"
      ? "lost"
      : r1 === "won" && r2 === "won"
      ? "won"
      : "pending";
    strictEqual(jointVoteResult([new Set(v1), new Set(v2)], (id) => v[id]), want);
  }));
});

Deno.test("quorum: examples", () => {
  const acked: Record<string, number> = { a: 5, b: 3, c: 1 };
  strictEqual(majorityCommittedIndex(new Set(["a", "b", "c"]), (id) => acked[id]), 3);
  strictEqual(majorityCommittedIndex(new Set(["a", "b", "c", "d"]), (id) => acked[id]), 1);
  strictEqual(majorityCommittedIndex(new Set(), () => 0), Infinity);
});
