/**
 * Raft safety invariants, checked incrementally by the simulator after every
 * step (each check costs O(what changed), so they can run on every event):
 *
 * - election safety: at most one leader per term;
 * - log matching: two entries with the same index and term hold the same
 *   data and follow the same term (hence, by induction, identical prefixes);
 * - leader completeness: a new leader's log holds every committed entry;
 * - state-machine safety: every replica applies the same entry at an index,
 *   and snapshots at the same index hold the same state;
 * - no committed entry lost: the highest committed entry stays durable on a
 *   quorum of the configuration that committed it;
 * - durable hard state: a replica's durable term never decreases and its
 *   durable vote never changes within a term (survives crashes).
 *
 * @module
 */

import { crc32c } from "../storage/crc32c.ts";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type GroupLogStorage,
  type HardState,
  type ReplicaId,
  UnavailableError,
} from "../storage/logStorage.ts";

/** A broken Raft invariant; the message says which, where and with what values. */
export class SafetyViolation extends Error {
  constructor(readonly invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = "SafetyViolation";
  }
}

interface EntryDigest {
  readonly term: number;
  readonly type: number;
  readonly length: number;
  readonly crc: number;
}

function digest(e: Entry): EntryDigest {
  return { term: e.term, type: e.type, length: e.data.length, crc: crc32c(e.data) };
}

function sameDigest(a: EntryDigest, b: EntryDigest): boolean {
  return a.term === b.term && a.type === b.type && a.length === b.length && a.crc === b.crc;
}

function describe(d: EntryDigest): string {
  return `term ${d.term} type ${d.type} ${d.length} B crc ${d.crc.toString(16)}`;
}

/** Term of `index` in `g`, "compacted" when discarded, null when absent. */
function termAt(g: GroupLogStorage, index: number): number | "compacted" | null {
  // Bounds first: exceptions are slow on the per-step path.
  if (index > g.lastIndex()) return null;
  if (index < g.firstIndex() - 1) return "compacted";
  try {
    return g.term(index);
  } catch (e) {
    if (e instanceof CompactedError) return "compacted";
    if (e instanceof UnavailableError) return null;
    throw e;
  }
}

/** Incremental checker of the invariants above for one group. */
export class SafetyChecker {
  /** term → leader. */
  readonly #leaders = new Map<number, ReplicaId>();
  /** "index/term" → digest and the term of the entry before it. */
  readonly #byIndexTerm = new Map<string, { digest: EntryDigest; prevTerm: number }>();
  /** index → digest of the committed entry. */
  readonly #committed = new Map<number, EntryDigest>();
  #maxCommitted = 0;
  /** index → state-machine snapshot bytes (as a string) at that index. */
  readonly #stateAt = new Map<number, string>();
  /** replica → durable hard state last seen. */
  readonly #durableHs = new Map<ReplicaId, HardState>();
  /** The highest commit seen on a leader with the configuration that made it. */
  #quorumWitness: { index: number; term: number; conf: ConfState } | null = null;

  /** Highest index known committed. */
  get maxCommitted(): number {
    return this.#maxCommitted;
  }

  /** Election safety: `id` became leader in `term`. */
  onLeader(id: ReplicaId, term: number): void {
    const prev = this.#leaders.get(term);
    if (prev !== undefined && prev !== id) {
      throw new SafetyViolation(
        "election safety",
        `term ${term} has two leaders: ${prev} and ${id}`,
      );
    }
    this.#leaders.set(term, id);
  }

  /**
   * Log matching: `entries` were just written to `g` (read back from it, so
   * the term before the first one is known).
   */
  onAppend(id: ReplicaId, g: GroupLogStorage, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = g.firstIndex();
    let prevTerm: number | null = null;
    for (const e of entries) {
      if (e.index < first) continue; // dropped as already compacted
      if (prevTerm === null) {
        const t = termAt(g, e.index - 1);
        if (typeof t !== "number") {
          throw new SafetyViolation(
            "log matching",
            `${id}: no term for index ${e.index - 1} after append`,
          );
        }
        prevTerm = t;
      }
      const key = `${e.index}/${e.term}`;
      const d = digest(e);
      const seen = this.#byIndexTerm.get(key);
      if (seen === undefined) {
        this.#byIndexTerm.set(key, { digest: d, prevTerm });
      } else if (!sameDigest(seen.digest, d) || seen.prevTerm !== prevTerm) {
        throw new SafetyViolation(
          "log matching",
          `${id}: entry ${e.index} of term ${e.term} is ${describe(d)} after term ${prevTerm}, ` +
            `elsewhere ${describe(seen.digest)} after term ${seen.prevTerm}`,
        );
      }
      prevTerm = e.term;
    }
  }

  /**
   * `id` knows entries up to `commit` are committed: they must agree with the
   * committed log; unknown ones become committed. `from` is the lowest index
   * not checked before for this replica.
   */
  onCommit(id: ReplicaId, g: GroupLogStorage, from: number, commit: number): void {
    const lo = Math.max(from, g.firstIndex());
    if (commit > g.lastIndex()) {
      throw new SafetyViolation(
        "log matching",
        `${id}: commit ${commit} is past its last index ${g.lastIndex()}`,
      );
    }
    if (lo > commit) return;
    for (const e of g.entries(lo, commit + 1, Infinity)) {
      const d = digest(e);
      const known = this.#committed.get(e.index);
      if (known === undefined) this.#committed.set(e.index, d);
      else if (!sameDigest(known, d)) {
        throw new SafetyViolation(
          "state machine safety",
          `${id}: committed entry ${e.index} is ${describe(d)}, committed elsewhere as ${
            describe(known)
          }`,
        );
      }
    }
    this.#maxCommitted = Math.max(this.#maxCommitted, commit);
  }

  /** A leader's commit advanced to `commit` under configuration `conf`. */
  onLeaderCommit(g: GroupLogStorage, commit: number, conf: ConfState): void {
    if (this.#quorumWitness !== null && commit <= this.#quorumWitness.index) return;
    const t = termAt(g, commit);
    if (typeof t !== "number") return;
    this.#quorumWitness = { index: commit, term: t, conf };
  }

  /** State-machine safety: `id` applies `e`. */
  onApply(id: ReplicaId, e: Entry): void {
    const known = this.#committed.get(e.index);
    const d = digest(e);
    if (known === undefined) {
      throw new SafetyViolation(
        "state machine safety",
        `${id}: applies entry ${e.index} not known as committed`,
      );
    }
    if (!sameDigest(known, d)) {
      throw new SafetyViolation(
        "state machine safety",
        `${id}: applies entry ${e.index} as ${describe(d)}, committed as ${describe(known)}`,
      );
    }
  }

  /** State-machine safety: the state at `index` (created or restored by `id`). */
  onStateAt(id: ReplicaId, index: number, state: Uint8Array): void {
    const s = new TextDecoder().decode(state);
    const known = this.#stateAt.get(index);
    if (known === undefined) this.#stateAt.set(index, s);
    else if (known !== s) {
      throw new SafetyViolation(
        "state machine safety",
        `${id}: state at index ${index} differs from another replica's (${s.slice(0, 80)} vs ${
          known.slice(0, 80)
        })`,
      );
    }
  }

  /** Leader completeness: `id` just became leader with log `g`. */
  onBecomeLeader(id: ReplicaId, g: GroupLogStorage): void {
    const last = g.lastIndex();
    if (last < this.#maxCommitted) {
      throw new SafetyViolation(
        "leader completeness",
        `${id}: new leader's last index ${last} is below the committed index ${this.#maxCommitted}`,
      );
    }
    for (let i = g.firstIndex(); i <= this.#maxCommitted; i++) {
      const known = this.#committed.get(i);
      if (known === undefined) continue;
      const t = g.term(i);
      if (t !== known.term) {
        throw new SafetyViolation(
          "leader completeness",
          `${id}: new leader has term ${t} at committed index ${i} (committed term ${known.term})`,
        );
      }
    }
  }

  /** Durable hard state of `id` after a sync (or a restart). */
  onDurableHardState(id: ReplicaId, hs: HardState): void {
    const prev = this.#durableHs.get(id);
    this.#durableHs.set(id, hs);
    if (prev === undefined) return;
    if (hs.term < prev.term) {
      throw new SafetyViolation(
        "durable hard state",
        `${id}: durable term went back from ${prev.term} to ${hs.term}`,
      );
    }
    if (hs.term === prev.term && prev.vote !== null && hs.vote !== prev.vote) {
      throw new SafetyViolation(
        "durable hard state",
        `${id}: durable vote in term ${hs.term} changed from ${prev.vote} to ${hs.vote}`,
      );
    }
  }

  /** Forgets a replica removed from the group (its id is never reused). */
  forget(id: ReplicaId): void {
    this.#durableHs.delete(id);
  }

  /**
   * No committed entry lost: the highest leader-committed entry is durable on
   * a quorum of the configuration that committed it. `durable` maps each
   * existing replica to its durable log; a configuration with a destroyed
   * voter is no longer checked (it was replaced by a committed newer one).
   */
  checkCommittedDurable(durable: ReadonlyMap<ReplicaId, GroupLogStorage>): void {
    const w = this.#quorumWitness;
    if (w === null) return;
    const halves = [w.conf.voters, w.conf.votersOutgoing].filter((h) => h.length > 0);
    for (const half of halves) {
      if (half.some((v) => !durable.has(v))) return;
    }
    for (const half of halves) {
      const holders = half.filter((v) => {
        const t = termAt(durable.get(v)!, w.index);
        return t === "compacted" || t === w.term;
      });
      if (holders.length <= half.length / 2) {
        throw new SafetyViolation(
          "no committed entry lost",
          `entry ${w.index} (term ${w.term}) is durable only on [${
            holders.join(", ")
          }] of voters [${half.join(", ")}]`,
        );
      }
    }
  }
}
