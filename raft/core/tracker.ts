/**
 * Membership configuration and per-replica progress (etcd-io/raft
 * `tracker/tracker.go`).
 *
 * @module
 */

import type { ConfState, ReplicaId } from "../storage/logStorage.ts";
import { Progress } from "./progress.ts";
import { jointCommittedIndex, jointVoteResult, type VoteResult } from "./quorum.ts";

/** A (possibly joint) membership configuration. Sets are owned (copy to change). */
export interface TrackerConfig {
  /** Incoming voters. */
  readonly voters: Set<ReplicaId>;
  /** Outgoing voters (non-empty only while joint). */
  readonly votersOutgoing: Set<ReplicaId>;
  readonly learners: Set<ReplicaId>;
  /** Outgoing voters that become learners when the joint config is left. */
  readonly learnersNext: Set<ReplicaId>;
  readonly autoLeave: boolean;
}

/** An empty configuration. */
export function emptyTrackerConfig(): TrackerConfig {
  return {
    voters: new Set(),
    votersOutgoing: new Set(),
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
}

/** Deep copy of a configuration. */
export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: new Set(c.voters),
    votersOutgoing: new Set(c.votersOutgoing),
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

/** The ConfState (sorted lists) describing a configuration. */
export function confStateOf(c: TrackerConfig): ConfState {
  const sorted = (s: Set<ReplicaId>) => [...s].sort();
  return {
    voters: sorted(c.voters),
    votersOutgoing: sorted(c.votersOutgoing),
    learners: sorted(c.learners),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

/** Progress map keyed by replica id. */
export type ProgressMap = Map<ReplicaId, Progress>;

/** Tracks the configuration, progress of every member, and votes. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  #votes = new Map<ReplicaId, boolean>();

  constructor(readonly maxInflightMsgs: number, readonly maxInflightBytes: number) {}

  /** True while a joint configuration is in effect. */
  isJoint(): boolean {
    return this.config.votersOutgoing.size > 0;
  }

  /** All voters of both halves, sorted. */
  voterIds(): ReplicaId[] {
    return [...new Set([...this.config.voters, ...this.config.votersOutgoing])].sort();
  }

  /** True when the only voter is `id` (and no joint config). */
  isSingleton(): boolean {
    return this.config.voters.size === 1 && this.config.votersOutgoing.size === 0;
  }

  /** Highest index replicated on a quorum (per the joint rule). */
  committed(): number {
    return jointCommittedIndex(
      [this.config.voters, this.config.votersOutgoing],
      (id) => this.progress.get(id)?.match,
    );
  }

  /** True when a quorum was recently active (check-quorum). */
  quorumActive(): boolean {
    return jointVoteResult(
      [this.config.voters, this.config.votersOutgoing],
      (id) => {
        const pr = this.progress.get(id);
        return pr === undefined ? undefined : pr.recentActive;
      },
    ) === "won";
  }

  /** Forgets all votes. */
  resetVotes(): void {
    this.#votes = new Map();
  }

  /** Records a vote once per replica. */
  recordVote(id: ReplicaId, granted: boolean): void {
    if (!this.#votes.has(id)) this.#votes.set(id, granted);
  }

  /** Counts votes under the current configuration. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.#votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.voteResult((id) => this.#votes.get(id)) };
  }

  /** Vote result under the current configuration for arbitrary votes. */
  voteResult(votes: (id: ReplicaId) => boolean | undefined): VoteResult {
    return jointVoteResult([this.config.voters, this.config.votersOutgoing], votes);
  }

  /** Current configuration as a ConfState. */
  confState(): ConfState {
    return confStateOf(this.config);
  }

  /** Creates a progress entry for a new member. */
  newProgress(next: number, isLearner: boolean): Progress {
    const pr = new Progress(next, this.maxInflightMsgs, this.maxInflightBytes, isLearner);
    pr.recentActive = true;
    return pr;
  }
}
