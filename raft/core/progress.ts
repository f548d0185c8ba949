/**
 * Leader-side replication state of one follower (etcd-io/raft
 * `tracker/progress.go`): probe → replicate ↔ snapshot.
 *
 * @module
 */

import { Inflights } from "./inflights.ts";
import { ProgressState, type ProgressStatus } from "./types.ts";

/** Replication progress of one replica, tracked by the leader. */
export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Index of the snapshot being sent (Snapshot state), else 0. */
  pendingSnapshot = 0;
  /** Ticks spent in Snapshot state (for the snapshot timeout). */
  snapshotTicks = 0;
  /** Heard from during the current check-quorum period. */
  recentActive = false;
  /** Heartbeat responses in a row with a full window and no progress. */
  stalledHeartbeats = 0;
  /** Match at the previous heartbeat response (stall detection). */
  matchAtHeartbeat = -1;
  /** Newest leader tick echoed by this follower's heartbeat responses (lease). */
  lastHeartbeatAckTick = -1;
  /** Probe state: an append was sent and no answer arrived yet. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflightMsgs: number,
    maxInflightBytes: number,
    public isLearner: boolean,
    inflights?: Inflights,
  ) {
    this.next = next;
    this.inflights = inflights ?? new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  /**
   * A copy with a different learner flag, sharing the in-flight window (so a
   * proposed configuration never mutates the one in effect).
   */
  withLearner(isLearner: boolean): Progress {
    const pr = new Progress(
      this.next,
      this.inflights.maxCount,
      this.inflights.maxBytes,
      isLearner,
      this.inflights,
    );
    pr.match = this.match;
    pr.state = this.state;
    pr.pendingSnapshot = this.pendingSnapshot;
    pr.snapshotTicks = this.snapshotTicks;
    pr.recentActive = this.recentActive;
    pr.lastHeartbeatAckTick = this.lastHeartbeatAckTick;
    pr.msgAppFlowPaused = this.msgAppFlowPaused;
    return pr;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing (after a rejection, a restart of contact, or a snapshot). */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.#resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  /** Start pipelining appends from match + 1. */
  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** Waiting for the follower to install the snapshot at `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Accounts for an append of `count` entries (`bytes`) ending at `lastIndex`. */
  sentEntries(count: number, bytes: number, lastIndex: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true;
    }
  }

  /** Records an acknowledgement of `index`; true if match advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Handles a rejected append at `rejected` with the follower's hint
   * `matchHint`; false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** True when the leader should not send appends now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  /** A read-only copy for status reports. */
  toStatus(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
      inflightCount: this.inflights.count,
      inflightBytes: this.inflights.bytes,
      pendingSnapshot: this.pendingSnapshot,
    };
  }
}
