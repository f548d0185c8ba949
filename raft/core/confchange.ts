/**
 * Membership changes with the invariants of etcd-io/raft `confchange/`:
 * simple changes alter at most one voter; anything else goes through a joint
 * configuration (enter joint, later leave joint).
 *
 * @module
 */

import type { ConfState, ReplicaId } from "../storage/logStorage.ts";
import { ConfChangeError } from "./errors.ts";
import type { Progress } from "./progress.ts";
import {
  cloneTrackerConfig,
  emptyTrackerConfig,
  type ProgressMap,
  type ProgressTracker,
  type TrackerConfig,
} from "./tracker.ts";
import { type ConfChange, type ConfChangeSingle, ConfChangeType } from "./types.ts";

/** A configuration and progress map produced by a change (not yet in effect). */
export interface ChangeResult {
  readonly config: TrackerConfig;
  readonly progress: ProgressMap;
}

/** Computes configuration changes from the tracker's current state. */
export class Changer {
  constructor(readonly tracker: ProgressTracker, readonly lastIndex: number) {}

  /** Enters a joint configuration applying `changes` to the incoming half. */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (config.votersOutgoing.size > 0) {
      throw new ConfChangeError("config is already joint");
    }
    if (config.voters.size === 0) {
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    for (const id of config.voters) config.votersOutgoing.add(id);
    this.#apply(config, progress, changes);
    const result = { config: { ...config, autoLeave }, progress };
    checkInvariants(result.config, progress);
    return result;
  }

  /** Leaves the joint configuration: outgoing voters go, learnersNext become learners. */
  leaveJoint(): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (config.votersOutgoing.size === 0) {
      throw new ConfChangeError("can't leave a non-joint config");
    }
    for (const id of config.learnersNext) {
      config.learners.add(id);
      const pr = progress.get(id);
      if (pr !== undefined) progress.set(id, pr.withLearner(true));
    }
    config.learnersNext.clear();
    for (const id of config.votersOutgoing) {
      if (!config.voters.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.votersOutgoing.clear();
    const result = { config: { ...config, autoLeave: false }, progress };
    checkInvariants(result.config, progress);
    return result;
  }

  /** Applies changes that alter at most one voter, without a joint state. */
  simple(changes: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (config.votersOutgoing.size > 0) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    const before = new Set(config.voters);
    this.#apply(config, progress, changes);
    let diff = 0;
    for (const id of before) if (!config.voters.has(id)) diff++;
    for (const id of config.voters) if (!before.has(id)) diff++;
    if (diff > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    checkInvariants(config, progress);
    return { config, progress };
  }

  /**
   * Forced recovery: replaces the voters with `voters` unconditionally. Old
   * learners stay learners; other old members are dropped.
   */
  force(voters: readonly ReplicaId[]): ChangeResult {
    if (voters.length === 0) throw new ConfChangeError("forced recovery needs at least one voter");
    const { config: old, progress: oldProgress } = this.#checkAndCopy();
    const config = emptyTrackerConfig();
    const progress: ProgressMap = new Map();
    for (const id of voters) {
      config.voters.add(id);
      const pr = oldProgress.get(id)?.withLearner(false) ?? this.#newProgress(false);
      progress.set(id, pr);
    }
    for (const id of [...old.learners, ...old.learnersNext]) {
      if (config.voters.has(id)) continue;
      config.learners.add(id);
      const pr = oldProgress.get(id)?.withLearner(true) ?? this.#newProgress(true);
      progress.set(id, pr);
    }
    checkInvariants(config, progress);
    return { config, progress };
  }

  #newProgress(isLearner: boolean): Progress {
    return this.tracker.newProgress(Math.max(this.lastIndex, 1), isLearner);
  }

  #checkAndCopy(): { config: TrackerConfig; progress: ProgressMap } {
    const config = cloneTrackerConfig(this.tracker.config);
    // Progress objects are shared; learner flips copy on write (withLearner).
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr);
    checkInvariants(config, progress);
    return { config, progress };
  }

  #apply(config: TrackerConfig, progress: ProgressMap, changes: readonly ConfChangeSingle[]) {
    for (const cc of changes) {
      if (cc.replicaId === "") continue;
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.#makeVoter(config, progress, cc.replicaId);
          break;
        case ConfChangeType.AddLearner:
          this.#makeLearner(config, progress, cc.replicaId);
          break;
        case ConfChangeType.RemoveNode:
          this.#remove(config, progress, cc.replicaId);
          break;
        default:
          throw new ConfChangeError(`unknown conf change type ${String(cc.type)}`);
      }
    }
    if (config.voters.size === 0) throw new ConfChangeError("removed all voters");
  }

  #makeVoter(config: TrackerConfig, progress: ProgressMap, id: ReplicaId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      progress.set(id, this.#newProgress(false));
    } else if (pr.isLearner) {
      progress.set(id, pr.withLearner(false));
    }
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.add(id);
  }

  #makeLearner(config: TrackerConfig, progress: ProgressMap, id: ReplicaId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      progress.set(id, this.#newProgress(true));
      config.learners.add(id);
      return;
    }
    if (pr.isLearner) return;
    // Demotion: remove as voter, then re-add as learner. A voter of the outgoing
    // half keeps voting until the joint state is left (learnersNext).
    this.#remove(config, progress, id);
    if (config.votersOutgoing.has(id)) {
      progress.set(id, pr);
      config.learnersNext.add(id);
    } else {
      progress.set(id, pr.withLearner(true));
      config.learners.add(id);
    }
  }

  #remove(config: TrackerConfig, progress: ProgressMap, id: ReplicaId): void {
    if (!progress.has(id)) return;
    config.voters.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    if (!config.votersOutgoing.has(id)) progress.delete(id);
  }
}

/** Throws ConfChangeError if the configuration breaks an etcd invariant. */
export function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (
    const set of [config.voters, config.votersOutgoing, config.learners, config.learnersNext]
  ) {
    for (const id of set) {
      if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  for (const id of config.learnersNext) {
    if (!config.votersOutgoing.has(id)) {
      throw new ConfChangeError(`${id} is in learnersNext but not in votersOutgoing`);
    }
    if (progress.get(id)?.isLearner) {
      throw new ConfChangeError(`${id} is in learnersNext but already marked as learner`);
    }
  }
  for (const id of config.learners) {
    if (config.voters.has(id) || config.votersOutgoing.has(id)) {
      throw new ConfChangeError(`${id} is both a learner and a voter`);
    }
    if (!progress.get(id)?.isLearner) {
      throw new ConfChangeError(`${id} is a learner but not marked as learner`);
    }
  }
  if (config.votersOutgoing.size === 0) {
    if (config.learnersNext.size > 0) {
      throw new ConfChangeError("learnersNext must be empty outside a joint config");
    }
    if (config.autoLeave) throw new ConfChangeError("autoLeave must be false outside joint");
  }
}

/** Whether a change enters a joint config, and whether it leaves automatically. */
export function enterJointOf(cc: ConfChange): { enter: boolean; autoLeave: boolean } {
  const enter = cc.transition !== "auto" || cc.changes.length > 1;
  return { enter, autoLeave: enter && cc.transition !== "explicit" };
}

/** True for the empty change that leaves a joint configuration. */
export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0 && cc.forceVoters === undefined;
}

/** Applies a ConfChange to the tracker's configuration (not yet switched in). */
export function applyConfChangeTo(
  tracker: ProgressTracker,
  lastIndex: number,
  cc: ConfChange,
): ChangeResult {
  const changer = new Changer(tracker, lastIndex);
  if (cc.forceVoters !== undefined) return changer.force(cc.forceVoters);
  if (isLeaveJoint(cc)) return changer.leaveJoint();
  const { enter, autoLeave } = enterJointOf(cc);
  if (enter) return changer.enterJoint(autoLeave, cc.changes);
  return changer.simple(cc.changes);
}

/** Builds the configuration and progress described by a ConfState. */
export function restoreConfState(
  tracker: ProgressTracker,
  lastIndex: number,
  cs: ConfState,
): ChangeResult {
  const config: TrackerConfig = {
    voters: new Set(cs.voters),
    votersOutgoing: new Set(cs.votersOutgoing),
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  const progress: ProgressMap = new Map();
  const next = Math.max(lastIndex, 1);
  for (const id of [...config.voters, ...config.votersOutgoing]) {
    if (!progress.has(id)) progress.set(id, tracker.newProgress(next, false));
  }
  for (const id of config.learners) progress.set(id, tracker.newProgress(next, true));
  checkInvariants(config, progress);
  return { config, progress };
}
