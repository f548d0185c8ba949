/**
 * Per-seed parameters of a simulation run.
 *
 * @module
 */

import type { RaftConfig } from "../core/config.ts";
import type { Rng } from "./rng.ts";

/** Per-seed parameters ("swarm testing": each seed stresses a different mix). */
export interface SimParams {
  initialVoters: number;
  maxMembers: number;
  clients: number;
  keys: number;
  raft: Partial<RaftConfig>;
  dropRate: number;
  duplicateRate: number;
  maxDelayTicks: number;
  crashPerTick: number;
  crashMidPersist: number;
  restartPerTick: number;
  partitionPerTick: number;
  healPerTick: number;
  confChangePerTick: number;
  transferPerTick: number;
  snapshotPerTick: number;
  opTimeoutTicks: number;
  /**
   * Probability that a replica misses a tick (its clock runs slow) during the
   * safety phase: clock drift between replicas, which leader leases must
   * tolerate within bounds.
   */
  tickSkipRate: number;
}

export function chooseParams(rng: Rng): SimParams {
  const initialVoters = rng.range(3, 5);
  const checkQuorum = rng.chance(0.8);
  return {
    initialVoters,
    maxMembers: rng.range(initialVoters, 7),
    clients: rng.range(2, 5),
    keys: rng.range(1, 3),
    raft: {
      electionTicks: 10,
      heartbeatTicks: 1,
      preVote: rng.chance(0.8),
      checkQuorum,
      readOnlyOption: checkQuorum && rng.chance(0.3) ? "lease-based" : "safe",
      maxSizePerMsgBytes: rng.pick([64, 512, 1 << 20]),
      maxInflightMsgs: rng.pick([1, 4, 256]),
      maxInflightBytes: rng.pick([256, 16 << 20]),
      maxSnapshotChunkBytes: rng.pick([32, 256, 1 << 20]),
      snapshotTimeoutTicks: 50,
      disableProposalForwarding: rng.chance(0.5),
    },
    dropRate: rng.pick([0, 0.01, 0.05, 0.15]),
    duplicateRate: rng.pick([0, 0.02, 0.1]),
    maxDelayTicks: rng.pick([1, 2, 4, 8]),
    crashPerTick: rng.pick([0, 0.002, 0.01]),
    crashMidPersist: rng.pick([0, 0.002, 0.01]),
    restartPerTick: rng.pick([0.02, 0.1]),
    partitionPerTick: rng.pick([0, 0.005, 0.02]),
    healPerTick: rng.pick([0.01, 0.05]),
    confChangePerTick: rng.pick([0, 0.005, 0.02]),
    transferPerTick: rng.pick([0, 0.003, 0.01]),
    snapshotPerTick: rng.pick([0, 0.01, 0.05]),
    opTimeoutTicks: 60,
    tickSkipRate: rng.pick([0, 0, 0.05, 0.2]),
  };
}
