/**
 * Quorum math over majority and joint configurations (etcd-io/raft
 * `quorum/`). Pure functions; checked against a naive oracle in tests.
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";

/** Outcome of counting votes. */
export type VoteResult = "won" | "lost" | "pending";

/** A set of voters deciding by simple majority. */
export type MajorityConfig = ReadonlySet<ReplicaId>;

/** Incoming and outgoing voter sets; outgoing is empty unless joint. */
export type JointConfig = readonly [MajorityConfig, MajorityConfig];

/**
 * Highest index acknowledged by a majority of `voters`. An empty
 * configuration returns +Infinity so that it never constrains a joint config.
 */
export function majorityCommittedIndex(
  voters: MajorityConfig,
  acked: (id: ReplicaId) => number | undefined,
): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((a, b) => a - b);
  // indexes[n - q] with q = majority size: q voters acknowledged at least this.
  return indexes[n - (Math.floor(n / 2) + 1)];
}

/** Vote result of a majority config; an empty config wins (joint-friendly). */
export function majorityVoteResult(
  voters: MajorityConfig,
  votes: (id: ReplicaId) => boolean | undefined,
): VoteResult {
  if (voters.size === 0) return "won";
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return "won";
  if (yes + missing >= q) return "pending";
  return "lost";
}

/** Committed index of a joint config: the minimum of both halves. */
export function jointCommittedIndex(
  config: JointConfig,
  acked: (id: ReplicaId) => number | undefined,
): number {
  return Math.min(
    majorityCommittedIndex(config[0], acked),
    majorityCommittedIndex(config[1], acked),
  );
}

/** Vote result of a joint config: both halves must win; either losing loses. */
export function jointVoteResult(
  config: JointConfig,
  votes: (id: ReplicaId) => boolean | undefined,
): VoteResult {
  const r1 = majorityVoteResult(config[0], votes);
  const r2 = majorityVoteResult(config[1], votes);
  if (r1 === r2) return r1;
  if (r1 === "lost" || r2 === "lost") return "lost";
  return "pending";
}
