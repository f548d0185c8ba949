/**
 * The member table and its state rules (hashicorp/memberlist `state.go`): how
 * `alive`, `suspect` and `dead` news and push-pull states change what this node
 * believes, with incarnation numbers, refutation, Lifeguard suspicion timers and
 * the resulting broadcasts and events. Pure; the clock arrives as `nowMs`. The
 * scheduling of probes, gossip and anti-entropy lives in `membership.ts`.
 *
 * @module
 */

import { Awareness } from "./awareness.ts";
import { BroadcastQueue } from "./broadcastQueue.ts";
import type { MembershipConfig } from "./config.ts";
import {
  type AliveMessage,
  type DeadMessage,
  encodedSize,
  type MemberState,
  type NodeMetadata,
  parseMetadata,
  type PushPullState,
  type SuspectMessage,
} from "./messages.ts";
import { minSuspicionTimeoutMs, Suspicion } from "./suspicion.ts";

/** A member as seen by this node (the shape the HTTP API returns). */
export interface MemberInfo {
  /** Member id: its cluster endpoint `HOST:PORT`. */
  readonly id: string;
  /** Cluster endpoint `HOST:PORT` (same as the id). */
  readonly endpoint: string;
  readonly state: MemberState;
  readonly incarnation: number;
  readonly metadata: NodeMetadata;
}

/** A change of a member's state or metadata as seen by this node. */
export interface MembershipEvent {
  /** `refuted`: this node refuted an accusation about itself (member is self). */
  readonly kind: MemberState | "updated" | "refuted";
  readonly member: MemberInfo;
  /** State before the change; `none` for a member seen for the first time. */
  readonly previous: MemberState | "none";
  /** For `suspect` and `dead`: the member whose accusation caused the change. */
  readonly accuser?: string;
}

/** One row of the table (mutable inside the core). */
export interface MemberRecord {
  readonly id: string;
  state: MemberState;
  incarnation: number;
  metadata: NodeMetadata;
  stateChangeMs: number;
}

/** What the scheduler wants to hear about. */
export interface MemberTableHooks {
  /** A member was seen for the first time. */
  onNewMember(id: string): void;
  /** A member became suspect on someone else's word: probe it soon to confirm or clear. */
  onSuspectedByOther(id: string): void;
}

/** The member table of one node. */
export class MemberTable {
  readonly selfId: string;
  readonly broadcasts: BroadcastQueue;
  readonly awareness: Awareness;
  /** The current time, set by the core before each step. */
  nowMs: number;
  /** Set by a graceful leave: news of our own death is then accepted. */
  leaving = false;
  readonly #config: MembershipConfig;
  readonly #hooks: MemberTableHooks;
  readonly #members = new Map<string, MemberRecord>();
  readonly #suspicions = new Map<string, Suspicion>();
  #events: MembershipEvent[] = [];

  /** Creates a table holding only this node, alive, and queues its announcement. */
  constructor(
    selfId: string,
    metadata: NodeMetadata,
    incarnation: number,
    config: MembershipConfig,
    nowMs: number,
    hooks: MemberTableHooks,
  ) {
    this.selfId = selfId;
    this.#config = config;
    this.#hooks = hooks;
    this.nowMs = nowMs;
    this.broadcasts = new BroadcastQueue(config.maxQueuedBroadcasts);
    this.awareness = new Awareness(config.awarenessMaxMultiplier);
    this.#members.set(selfId, {
      id: selfId,
      state: "alive",
      incarnation,
      metadata: this.checkMetadata(metadata),
      stateChangeMs: nowMs,
    });
    // Announce ourselves to whoever we learn about first (memberlist's setAlive).
    this.broadcasts.push(this.aliveOf(this.self()));
  }

  // ---------------------------------------------------------------- queries

  /** The record of `id`, if known. */
  get(id: string): MemberRecord | undefined {
    return this.#members.get(id);
  }

  /** Every record, this node included. */
  records(): MemberRecord[] {
    return [...this.#members.values()];
  }

  /** This node's record. */
  self(): MemberRecord {
    return this.#members.get(this.selfId) as MemberRecord;
  }

  /** Ids of the other members in one of `states`. */
  othersIn(states: readonly MemberState[]): string[] {
    const ids: string[] = [];
    for (const m of this.#members.values()) {
      if (m.id !== this.selfId && states.includes(m.state)) ids.push(m.id);
    }
    return ids;
  }

  /** The full state sent in a push-pull. */
  localState(): PushPullState[] {
    return [...this.#members.values()].map((m) => ({
      node: m.id,
      inc: m.incarnation,
      state: m.state,
      meta: m.metadata,
    }));
  }

  /** An `alive` message for `m`. */
  aliveOf(m: MemberRecord): AliveMessage {
    return { t: "alive", node: m.id, inc: m.incarnation, meta: m.metadata };
  }

  /** The public view of `m`. */
  info(m: MemberRecord): MemberInfo {
    return {
      id: m.id,
      endpoint: m.id,
      state: m.state,
      incarnation: m.incarnation,
      metadata: m.metadata,
    };
  }

  /** The earliest suspicion deadline, or Infinity. */
  nextSuspicionDeadlineMs(): number {
    let next = Infinity;
    for (const s of this.#suspicions.values()) next = Math.min(next, s.deadlineMs());
    return next;
  }

  /** Returns and clears the events produced since the last call. */
  takeEvents(): MembershipEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  // ---------------------------------------------------------------- changes

  /** Declares dead every suspect whose suspicion timer has expired. */
  expireSuspicions(): void {
    for (const [id, suspicion] of [...this.#suspicions]) {
      if (this.nowMs < suspicion.deadlineMs()) continue;
      this.#suspicions.delete(id);
      const m = this.#members.get(id);
      if (m !== undefined && m.state === "suspect") {
        this.deadNode({ t: "dead", node: id, inc: m.incarnation, from: this.selfId });
      }
    }
  }

  /** Forgets members dead or left for longer than their retention; returns whether any went. */
  reap(): boolean {
    let removed = false;
    for (const m of [...this.#members.values()]) {
      const age = this.nowMs - m.stateChangeMs;
      if (
        m.id !== this.selfId &&
        ((m.state === "dead" && age > this.#config.deadMemberRetentionMs) ||
          (m.state === "left" && age > this.#config.leftMemberRetentionMs))
      ) {
        this.#members.delete(m.id);
        removed = true;
      }
    }
    return removed;
  }

  /** Merges a remote full state (push-pull). */
  mergeState(states: readonly PushPullState[]): void {
    for (const s of states) {
      switch (s.state) {
        case "alive":
          this.aliveNode({ t: "alive", node: s.node, inc: s.inc, meta: s.meta });
          break;
        case "left":
          this.deadNode({ t: "dead", node: s.node, inc: s.inc, from: s.node });
          break;
        case "dead":
        case "suspect":
          // A remote verdict is only a suspicion here: we check for ourselves.
          this.suspectNode({ t: "suspect", node: s.node, inc: s.inc, from: this.selfId });
          break;
      }
    }
  }

  /** Applies an `alive`: a newer incarnation clears a suspicion; about us, we may refute. */
  aliveNode(a: AliveMessage): void {
    if (this.leaving && a.node === this.selfId) return;
    const m = this.#members.get(a.node);
    if (m === undefined) {
      if (this.#members.size >= this.#config.maxMembers) return;
      const record: MemberRecord = {
        id: a.node,
        state: "alive",
        incarnation: a.inc,
        metadata: a.meta,
        stateChangeMs: this.nowMs,
      };
      this.#members.set(a.node, record);
      this.broadcasts.push(a);
      this.#emit("alive", record, "none");
      this.#hooks.onNewMember(a.node);
      return;
    }
    if (a.node === this.selfId) {
      if (a.inc < m.incarnation) return;
      if (a.inc === m.incarnation && sameMetadata(a.meta, m.metadata)) return;
      this.refute(a.inc);
      return;
    }
    if (a.inc <= m.incarnation) return;
    this.#suspicions.delete(a.node);
    this.broadcasts.push(a);
    const previous = m.state;
    const metaChanged = !sameMetadata(a.meta, m.metadata);
    m.incarnation = a.inc;
    m.metadata = a.meta;
    if (previous !== "alive") {
      m.state = "alive";
      m.stateChangeMs = this.nowMs;
      this.#emit("alive", m, previous);
    } else if (metaChanged) {
      this.#emit("updated", m, previous);
    }
  }

  /** Applies a `suspect`: starts or confirms a suspicion; about us, refutes. */
  suspectNode(s: SuspectMessage): void {
    const m = this.#members.get(s.node);
    if (m === undefined || s.inc < m.incarnation) return;
    const existing = this.#suspicions.get(s.node);
    if (existing !== undefined) {
      if (existing.confirm(s.from)) this.broadcasts.push(s);
      return;
    }
    if (m.state !== "alive") return;
    if (s.node === this.selfId) {
      this.refute(s.inc);
      return;
    }
    this.broadcasts.push(s);
    const previous = m.state;
    m.incarnation = s.inc;
    m.state = "suspect";
    m.stateChangeMs = this.nowMs;
    const n = this.othersIn(["alive", "suspect"]).length + 1;
    let k = this.#config.suspicionMult - 2;
    if (n - 2 < k) k = 0;
    const minMs = minSuspicionTimeoutMs(
      this.#config.suspicionMult,
      n,
      this.#config.probeIntervalMs,
    );
    const maxMs = minMs * this.#config.suspicionMaxTimeoutMult;
    this.#suspicions.set(s.node, new Suspicion(s.from, k, minMs, maxMs, this.nowMs));
    this.#emit("suspect", m, previous, s.from);
    if (s.from !== this.selfId) this.#hooks.onSuspectedByOther(s.node);
  }

  /** Applies a `dead` (`from === node`: a graceful leave); about us, refutes unless leaving. */
  deadNode(d: DeadMessage): void {
    const m = this.#members.get(d.node);
    if (m === undefined || d.inc < m.incarnation) return;
    this.#suspicions.delete(d.node);
    if (m.state === "dead" || m.state === "left") return;
    if (d.node === this.selfId) {
      if (!this.leaving) {
        this.refute(d.inc);
        return;
      }
      this.broadcasts.push(d);
      m.state = "left";
      m.stateChangeMs = this.nowMs;
      return;
    }
    this.broadcasts.push(d);
    const previous = m.state;
    m.incarnation = d.inc;
    m.state = d.from === d.node ? "left" : "dead";
    m.stateChangeMs = this.nowMs;
    this.#emit(m.state, m, previous, d.from);
  }

  /** Outbids an accusation about ourselves with a higher incarnation. */
  refute(accusedIncarnation: number): void {
    const self = this.self();
    self.incarnation = Math.max(self.incarnation, accusedIncarnation) + 1;
    this.awareness.applyDelta(1);
    this.broadcasts.push(this.aliveOf(self));
    this.#emit("refuted", self, self.state);
  }

  /** Replaces our metadata; it is gossiped with a higher incarnation. */
  updateMetadata(metadata: NodeMetadata): void {
    const normalized = this.checkMetadata(metadata);
    const self = this.self();
    self.metadata = normalized;
    self.incarnation++;
    this.broadcasts.push(this.aliveOf(self));
  }

  /** Normalizes metadata and checks its encoded size; throws RangeError. */
  checkMetadata(metadata: NodeMetadata): NodeMetadata {
    let normalized: NodeMetadata;
    try {
      normalized = parseMetadata(metadata);
    } catch (err) {
      throw new RangeError(`node metadata rejected: ${(err as Error).message}`);
    }
    const size = encodedSize(normalized);
    if (size > this.#config.maxMetadataBytes) {
      throw new RangeError(
        `node metadata is ${size} bytes, above maxMetadataBytes ${this.#config.maxMetadataBytes}`,
      );
    }
    return normalized;
  }

  #emit(
    kind: MembershipEvent["kind"],
    m: MemberRecord,
    previous: MemberState | "none",
    accuser?: string,
  ): void {
    this.#events.push(
      accuser === undefined
        ? { kind, member: this.info(m), previous }
        : { kind, member: this.info(m), previous, accuser },
    );
  }
}

function sameMetadata(a: NodeMetadata, b: NodeMetadata): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
