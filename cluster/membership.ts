/**
 * The SWIM/Lifeguard membership core, pure like `raft/`: no clock, socket, random
 * source or `await`. The driver calls {@link MembershipCore.onTick} when
 * {@link MembershipOutput.nextDeadlineMs} is reached and
 * {@link MembershipCore.onMessage} for every received packet; each call returns the
 * packets to send, the membership events to report and the next deadline.
 *
 * Rules follow hashicorp/memberlist (`state.go`): round-robin probes over a shuffled
 * member list, indirect probes through `indirectChecks` members with nacks, suspicion
 * with incarnation numbers and refutation, Lifeguard's confirmation-shrunk suspicion
 * timeout and local-health multiplier, the buddy system (a ping to a suspect carries
 * the suspicion so the suspect can refute at once), piggybacked dissemination through a
 * bounded, retransmit-limited queue, push-pull anti-entropy, join through seeds,
 * graceful leave. Additions: serf-style periodic push-pull with one member believed
 * dead (a healed partition merges again), seeds retried while this node knows no
 * live member, and members newly suspected by others (or reported unreachable by the
 * transport) probed next, so independent confirmations arrive within one interval.
 *
 * @module
 */

import { Awareness } from "./awareness.ts";
import { BroadcastQueue, retransmitLimit } from "./broadcastQueue.ts";
import type { MembershipConfig } from "./config.ts";
import {
  type AliveMessage,
  type BroadcastMessage,
  type DeadMessage,
  encodedSize,
  type MemberState,
  type NodeMetadata,
  parseMetadata,
  type PushPullState,
  type SuspectMessage,
  type SwimMessage,
} from "./messages.ts";
import { type Random, randomInt, sample, shuffle } from "./rng.ts";
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

/** A packet to send to one member. */
export interface OutPacket {
  readonly to: string;
  readonly messages: SwimMessage[];
}

/** Result of every call into the core. */
export interface MembershipOutput {
  readonly packets: OutPacket[];
  readonly events: MembershipEvent[];
  /** Call `onTick` no later than this (absolute ms on the driver's clock). */
  readonly nextDeadlineMs: number;
}

/** Construction options of {@link MembershipCore}. */
export interface MembershipCoreOptions {
  /** This node's id, its cluster endpoint `HOST:PORT`. */
  selfId: string;
  metadata: NodeMetadata;
  config: MembershipConfig;
  random: Random;
  nowMs: number;
  /** Starting incarnation (default 1). */
  incarnation?: number;
}

interface MemberRecord {
  readonly id: string;
  state: MemberState;
  incarnation: number;
  metadata: NodeMetadata;
  stateChangeMs: number;
}

interface ProbeInFlight {
  readonly target: string;
  /** The target's incarnation when the probe started: a failure accuses only that one. */
  readonly incarnation: number;
  readonly seq: number;
  readonly indirectAtMs: number;
  readonly endAtMs: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  readonly origin: string;
  readonly originSeq: number;
  readonly deadlineMs: number;
  readonly nack: boolean;
}

/** Per-item framing overhead assumed when packing broadcasts into a packet. */
const PIGGYBACK_OVERHEAD_BYTES = 2;
/** A relay nacks after this fraction of the probe timeout (memberlist waits the whole). */
const RELAY_NACK_FRACTION = 0.8;
/** Bound of push-pulls in flight towards senders we did not know. */
const MAX_UNKNOWN_PULLS = 16;

/** The membership state machine of one node. */
export class MembershipCore {
  readonly selfId: string;
  readonly #config: MembershipConfig;
  readonly #random: Random;
  readonly #members = new Map<string, MemberRecord>();
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #relays = new Map<number, Relay>();
  readonly #broadcasts: BroadcastQueue;
  readonly #awareness: Awareness;
  #probeOrder: string[] = [];
  #probeIndex = 0;
  #priorityProbes: string[] = [];
  #probe: ProbeInFlight | undefined;
  #seq = 0;
  #now: number;
  #nextProbeAtMs: number;
  #nextGossipAtMs: number;
  #nextPushPullAtMs: number;
  #nextReconnectAtMs: number;
  #nextJoinAtMs = Infinity;
  #seeds: string[] = [];
  readonly #unknownPulls = new Map<string, number>();
  #leaving = false;
  #packets: OutPacket[] = [];
  #events: MembershipEvent[] = [];

  /** Creates the core with only this node, alive, in its member table. */
  constructor(options: MembershipCoreOptions) {
    const { config } = options;
    this.selfId = options.selfId;
    this.#config = config;
    this.#random = options.random;
    this.#now = options.nowMs;
    this.#broadcasts = new BroadcastQueue(config.maxQueuedBroadcasts);
    this.#awareness = new Awareness(config.awarenessMaxMultiplier);
    this.#members.set(this.selfId, {
      id: this.selfId,
      state: "alive",
      incarnation: options.incarnation ?? 1,
      metadata: this.#checkMetadata(options.metadata),
      stateChangeMs: this.#now,
    });
    // Announce ourselves to whoever we learn about first (memberlist's setAlive).
    this.#broadcasts.push(this.#aliveOf(this.#self()));
    // Stagger the periodic work so that nodes started together do not probe in lockstep.
    const jitter = (intervalMs: number) => this.#now + randomInt(this.#random, intervalMs) + 1;
    this.#nextProbeAtMs = jitter(config.probeIntervalMs);
    this.#nextGossipAtMs = jitter(config.gossipIntervalMs);
    this.#nextPushPullAtMs = config.pushPullIntervalMs > 0
      ? this.#now + config.pushPullIntervalMs + randomInt(this.#random, config.pushPullIntervalMs)
      : Infinity;
    this.#nextReconnectAtMs = config.reconnectIntervalMs > 0
      ? jitter(config.reconnectIntervalMs) + config.reconnectIntervalMs
      : Infinity;
  }

  // ---------------------------------------------------------------- public API

  /** Starts joining through `seeds` (endpoints; this node's own is skipped), retrying. */
  join(seeds: readonly string[], nowMs: number): MembershipOutput {
    this.#now = nowMs;
    this.#seeds = [...new Set(seeds)].filter((s) => s !== this.selfId);
    this.#nextJoinAtMs = nowMs;
    this.#runTimers();
    return this.#flush();
  }

  /** Processes all timers due at `nowMs`. */
  onTick(nowMs: number): MembershipOutput {
    this.#now = Math.max(this.#now, nowMs);
    this.#runTimers();
    return this.#flush();
  }

  /** Processes one packet received from the authenticated member `from`. */
  onMessage(from: string, messages: readonly SwimMessage[], nowMs: number): MembershipOutput {
    this.#now = Math.max(this.#now, nowMs);
    const replies: { to: string; message: SwimMessage }[] = [];
    const sender = this.#members.get(from);
    if (sender === undefined || sender.state === "dead") this.#pullFromUnknown(from);
    for (const message of messages) this.#handle(from, message, replies);
    // Replies are built after the whole packet so that an ack carries, e.g., the
    // refutation of a suspicion piggybacked on the ping (buddy system).
    for (const r of replies) this.#sendWithPiggyback(r.to, r.message);
    return this.#flush();
  }

  /**
   * A hint from the transport that `id` is unreachable (connection lost or refused):
   * it is probed next. It never changes a state by itself.
   */
  hintUnreachable(id: string, nowMs: number): MembershipOutput {
    this.#now = Math.max(this.#now, nowMs);
    this.#prioritizeProbe(id);
    return this.#flush();
  }

  /** Changes this node's metadata; the new version is gossiped with a higher incarnation. */
  updateMetadata(metadata: NodeMetadata, nowMs: number): MembershipOutput {
    this.#now = Math.max(this.#now, nowMs);
    const normalized = this.#checkMetadata(metadata);
    const self = this.#self();
    self.metadata = normalized;
    self.incarnation++;
    this.#broadcasts.push(this.#aliveOf(self));
    return this.#flush();
  }

  /**
   * Leaves gracefully: a `dead` message from this node about itself is sent to every
   * live member and queued for gossip; probing, push-pull and re-join stop. The driver
   * should keep ticking for a moment (gossip) before closing.
   */
  leave(nowMs: number): MembershipOutput {
    this.#now = Math.max(this.#now, nowMs);
    if (this.#leaving) return this.#flush();
    this.#leaving = true;
    this.#probe = undefined;
    const self = this.#self();
    const message: DeadMessage = {
      t: "dead",
      node: this.selfId,
      inc: self.incarnation,
      from: this.selfId,
    };
    this.#deadNode(message);
    for (const m of this.#members.values()) {
      if (m.id !== this.selfId && (m.state === "alive" || m.state === "suspect")) {
        this.#packets.push({ to: m.id, messages: [message] });
      }
    }
    return this.#flush();
  }

  /** Whether broadcasts are still waiting to be gossiped (used to drain on leave). */
  get pendingBroadcasts(): number {
    return this.#broadcasts.size;
  }

  /** Local health score (0 = healthy). */
  get healthScore(): number {
    return this.#awareness.score;
  }

  /** Every known member including this node, sorted by id. */
  members(): MemberInfo[] {
    return [...this.#members.values()].map((m) => this.#info(m)).sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    );
  }

  /** One member, or undefined. */
  member(id: string): MemberInfo | undefined {
    const m = this.#members.get(id);
    return m === undefined ? undefined : this.#info(m);
  }

  // ---------------------------------------------------------------- timers

  #nextDeadlineMs(): number {
    let next = Math.min(
      this.#nextGossipAtMs,
      this.#leaving ? Infinity : this.#nextProbeAtMs,
      this.#leaving ? Infinity : this.#nextPushPullAtMs,
      this.#leaving ? Infinity : this.#nextReconnectAtMs,
      this.#leaving ? Infinity : this.#nextJoinAtMs,
    );
    if (this.#probe !== undefined) {
      next = Math.min(
        next,
        this.#probe.indirectSent ? this.#probe.endAtMs : this.#probe.indirectAtMs,
      );
    }
    for (const r of this.#relays.values()) next = Math.min(next, r.deadlineMs);
    for (const s of this.#suspicions.values()) next = Math.min(next, s.deadlineMs());
    return next;
  }

  #runTimers(): void {
    const now = this.#now;
    for (const [seq, relay] of this.#relays) {
      if (now < relay.deadlineMs) continue;
      this.#relays.delete(seq);
      if (relay.nack) this.#sendWithPiggyback(relay.origin, { t: "nack", seq: relay.originSeq });
    }
    for (const [id, suspicion] of [...this.#suspicions]) {
      if (now < suspicion.deadlineMs()) continue;
      this.#suspicions.delete(id);
      const m = this.#members.get(id);
      if (m !== undefined && m.state === "suspect") {
        this.#deadNode({ t: "dead", node: id, inc: m.incarnation, from: this.selfId });
      }
    }
    if (!this.#leaving) {
      this.#runProbe(now);
      if (now >= this.#nextJoinAtMs) this.#runJoin(now);
      if (now >= this.#nextPushPullAtMs) this.#runPushPull(now);
      if (now >= this.#nextReconnectAtMs) this.#runReconnect(now);
    }
    if (now >= this.#nextGossipAtMs) {
      this.#nextGossipAtMs = now + this.#config.gossipIntervalMs;
      this.#gossip(now);
    }
  }

  #runProbe(now: number): void {
    const probe = this.#probe;
    if (probe !== undefined && !probe.indirectSent && now >= probe.indirectAtMs) {
      probe.indirectSent = true;
      const relays = sample(
        this.#random,
        this.#othersIn(["alive"]).filter((id) => id !== probe.target),
        this.#config.indirectChecks,
      );
      probe.expectedNacks = relays.length;
      for (const relay of relays) {
        this.#sendWithPiggyback(relay, {
          t: "ireq",
          seq: probe.seq,
          node: probe.target,
          nack: true,
        });
      }
    }
    if (probe !== undefined && now >= probe.endAtMs) {
      this.#probe = undefined;
      // Lifeguard: missing nacks from relays (or, without relays, any failed probe)
      // means we may be the slow one.
      const missed = probe.expectedNacks > 0 ? probe.expectedNacks - probe.nacks : 1;
      if (missed > 0) this.#awareness.applyDelta(missed);
      const m = this.#members.get(probe.target);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) {
        // The incarnation probed, not the current one: a member that restarted and
        // refuted while this probe was in flight is not accused.
        this.#suspectNode({ t: "suspect", node: m.id, inc: probe.incarnation, from: this.selfId });
      }
    }
    if (this.#probe === undefined && now >= this.#nextProbeAtMs) {
      const intervalMs = this.#awareness.scaleTimeoutMs(this.#config.probeIntervalMs);
      this.#nextProbeAtMs = now + intervalMs;
      const target = this.#nextProbeTarget();
      if (target === undefined) return;
      const seq = ++this.#seq;
      this.#probe = {
        target: target.id,
        incarnation: target.incarnation,
        seq,
        indirectAtMs: now + this.#awareness.scaleTimeoutMs(this.#config.probeTimeoutMs),
        endAtMs: now + intervalMs,
        indirectSent: false,
        expectedNacks: 0,
        nacks: 0,
      };
      const messages: SwimMessage[] = [{ t: "ping", seq, node: target.id }];
      if (target.state === "suspect") {
        // Buddy system: tell the suspect directly so it can refute at once.
        messages.push({
          t: "suspect",
          node: target.id,
          inc: target.incarnation,
          from: this.selfId,
        });
      }
      this.#sendPacket(target.id, messages);
    }
  }

  #nextProbeTarget(): MemberRecord | undefined {
    while (this.#priorityProbes.length > 0) {
      const id = this.#priorityProbes.shift() as string;
      const m = this.#members.get(id);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) return m;
    }
    for (let checked = 0; checked <= this.#probeOrder.length; checked++) {
      if (this.#probeIndex >= this.#probeOrder.length) {
        this.#resetProbeOrder();
        if (this.#probeOrder.length === 0) return undefined;
      }
      const id = this.#probeOrder[this.#probeIndex++];
      const m = this.#members.get(id);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) return m;
    }
    return undefined;
  }

  #resetProbeOrder(): void {
    // Forget long-dead and long-left members here, once per round, as memberlist does.
    for (const m of [...this.#members.values()]) {
      const age = this.#now - m.stateChangeMs;
      if (
        (m.state === "dead" && age > this.#config.deadMemberRetentionMs) ||
        (m.state === "left" && age > this.#config.leftMemberRetentionMs)
      ) {
        if (m.id !== this.selfId) this.#members.delete(m.id);
      }
    }
    this.#probeOrder = shuffle(
      this.#random,
      [...this.#members.keys()].filter((id) => id !== this.selfId),
    );
    this.#probeIndex = 0;
  }

  #prioritizeProbe(id: string): void {
    if (id === this.selfId || this.#leaving) return;
    if (this.#probe?.target === id || this.#priorityProbes.includes(id)) return;
    const m = this.#members.get(id);
    if (m === undefined || (m.state !== "alive" && m.state !== "suspect")) return;
    if (this.#priorityProbes.length < this.#config.indirectChecks + 8) {
      this.#priorityProbes.push(id);
    }
  }

  /**
   * A packet from a sender we do not know (or believe dead) means gossip about it has
   * not reached us (a broadcast can die out in a small cluster, a partition may have
   * healed): exchange full state with it, rate-limited per sender.
   */
  #pullFromUnknown(from: string): void {
    if (this.#leaving || from === this.selfId) return;
    const sentAtMs = this.#unknownPulls.get(from);
    if (sentAtMs !== undefined && this.#now - sentAtMs < this.#config.probeIntervalMs) return;
    if (this.#unknownPulls.size >= MAX_UNKNOWN_PULLS) {
      for (const [id, at] of this.#unknownPulls) {
        if (this.#now - at >= this.#config.probeIntervalMs) this.#unknownPulls.delete(id);
      }
      if (this.#unknownPulls.size >= MAX_UNKNOWN_PULLS) return;
    }
    this.#unknownPulls.set(from, this.#now);
    this.#sendPacket(from, [{ t: "pp", join: false, resp: false, states: this.#localState() }]);
  }

  #runJoin(now: number): void {
    if (this.#seeds.length === 0 || this.#othersIn(["alive", "suspect"]).length > 0) {
      // Joined (or nothing to join): check again later in case we end up alone.
      this.#nextJoinAtMs = this.#seeds.length === 0
        ? Infinity
        : now + this.#config.joinRetryIntervalMs;
      return;
    }
    this.#nextJoinAtMs = now + this.#config.joinRetryIntervalMs;
    const states = this.#localState();
    for (const seed of this.#seeds) {
      this.#sendPacket(seed, [{ t: "pp", join: true, resp: false, states }]);
    }
  }

  #runPushPull(now: number): void {
    const alive = this.#othersIn(["alive"]);
    this.#nextPushPullAtMs = now +
      pushPullScaleMs(this.#config.pushPullIntervalMs, alive.length + 1);
    if (alive.length === 0) return;
    const peer = alive[randomInt(this.#random, alive.length)];
    this.#sendPacket(peer, [{ t: "pp", join: false, resp: false, states: this.#localState() }]);
  }

  #runReconnect(now: number): void {
    this.#nextReconnectAtMs = now + this.#config.reconnectIntervalMs;
    const dead = this.#othersIn(["dead"]);
    if (dead.length === 0) return;
    const peer = dead[randomInt(this.#random, dead.length)];
    this.#sendPacket(peer, [{ t: "pp", join: false, resp: false, states: this.#localState() }]);
  }

  #gossip(now: number): void {
    if (this.#broadcasts.size === 0) return;
    const candidates = [...this.#members.values()].filter((m) =>
      m.id !== this.selfId &&
      (m.state === "alive" || m.state === "suspect" ||
        (m.state === "dead" && now - m.stateChangeMs < this.#config.gossipToTheDeadMs))
    ).map((m) => m.id);
    for (const target of sample(this.#random, candidates, this.#config.gossipNodes)) {
      const messages = this.#takeBroadcasts(this.#config.maxPacketBytes, target);
      if (messages.length > 0) this.#packets.push({ to: target, messages });
    }
  }

  // ---------------------------------------------------------------- messages

  #handle(from: string, message: SwimMessage, replies: { to: string; message: SwimMessage }[]) {
    switch (message.t) {
      case "ping":
        if (message.node === this.selfId) {
          replies.push({ to: from, message: { t: "ack", seq: message.seq } });
        }
        return;
      case "ireq": {
        if (this.#relays.size >= this.#config.maxPendingRelays || message.node === this.selfId) {
          return;
        }
        const seq = ++this.#seq;
        this.#relays.set(seq, {
          origin: from,
          originSeq: message.seq,
          // Nack before the origin's probe window closes (it opened the indirect round
          // probeTimeoutMs before the end), or the origin counts it as missed.
          deadlineMs: this.#now + Math.floor(this.#config.probeTimeoutMs * RELAY_NACK_FRACTION),
          nack: message.nack,
        });
        replies.push({ to: message.node, message: { t: "ping", seq, node: message.node } });
        return;
      }
      case "ack": {
        const probe = this.#probe;
        if (probe !== undefined && probe.seq === message.seq) {
          this.#probe = undefined;
          this.#awareness.applyDelta(-1);
          return;
        }
        const relay = this.#relays.get(message.seq);
        if (relay !== undefined) {
          this.#relays.delete(message.seq);
          replies.push({ to: relay.origin, message: { t: "ack", seq: relay.originSeq } });
        }
        return;
      }
      case "nack":
        if (this.#probe !== undefined && this.#probe.seq === message.seq) this.#probe.nacks++;
        return;
      case "alive":
        this.#aliveNode(message);
        return;
      case "suspect":
        this.#suspectNode(message);
        return;
      case "dead":
        this.#deadNode(message);
        return;
      case "pp":
        this.#mergeState(message.states);
        if (!message.resp) {
          // Merge first, so that the answer already carries our refutations.
          replies.push({
            to: from,
            message: { t: "pp", join: message.join, resp: true, states: this.#localState() },
          });
        }
        return;
    }
  }

  #mergeState(states: readonly PushPullState[]): void {
    for (const s of states) {
      switch (s.state) {
        case "alive":
          this.#aliveNode({ t: "alive", node: s.node, inc: s.inc, meta: s.meta });
          break;
        case "left":
          this.#deadNode({ t: "dead", node: s.node, inc: s.inc, from: s.node });
          break;
        case "dead":
        case "suspect":
          // A remote verdict is only a suspicion here: we check for ourselves.
          this.#suspectNode({ t: "suspect", node: s.node, inc: s.inc, from: this.selfId });
          break;
      }
    }
  }

  #aliveNode(a: AliveMessage): void {
    if (this.#leaving && a.node === this.selfId) return;
    const m = this.#members.get(a.node);
    if (m === undefined) {
      if (this.#members.size >= this.#config.maxMembers) return;
      const record: MemberRecord = {
        id: a.node,
        state: "alive",
        incarnation: a.inc,
        metadata: a.meta,
        stateChangeMs: this.#now,
      };
      this.#members.set(a.node, record);
      this.#unknownPulls.delete(a.node);
      this.#probeOrder.splice(randomInt(this.#random, this.#probeOrder.length + 1), 0, a.node);
      this.#broadcasts.push(a);
      this.#emit("alive", record, "none");
      return;
    }
    if (a.node === this.selfId) {
      if (a.inc < m.incarnation) return;
      if (a.inc === m.incarnation && sameMetadata(a.meta, m.metadata)) return;
      this.#refute(a.inc);
      return;
    }
    if (a.inc <= m.incarnation) return;
    this.#suspicions.delete(a.node);
    this.#broadcasts.push(a);
    const previous = m.state;
    const metaChanged = !sameMetadata(a.meta, m.metadata);
    m.incarnation = a.inc;
    m.metadata = a.meta;
    if (previous !== "alive") {
      m.state = "alive";
      m.stateChangeMs = this.#now;
      this.#emit("alive", m, previous);
    } else if (metaChanged) {
      this.#emit("updated", m, previous);
    }
  }

  #suspectNode(s: SuspectMessage): void {
    const m = this.#members.get(s.node);
    if (m === undefined || s.inc < m.incarnation) return;
    const existing = this.#suspicions.get(s.node);
    if (existing !== undefined) {
      if (existing.confirm(s.from)) this.#broadcasts.push(s);
      return;
    }
    if (m.state !== "alive") return;
    if (s.node === this.selfId) {
      this.#refute(s.inc);
      return;
    }
    this.#broadcasts.push(s);
    const previous = m.state;
    m.incarnation = s.inc;
    m.state = "suspect";
    m.stateChangeMs = this.#now;
    const n = this.#othersIn(["alive", "suspect"]).length + 1;
    let k = this.#config.suspicionMult - 2;
    if (n - 2 < k) k = 0;
    const minMs = minSuspicionTimeoutMs(
      this.#config.suspicionMult,
      n,
      this.#config.probeIntervalMs,
    );
    const maxMs = minMs * this.#config.suspicionMaxTimeoutMult;
    this.#suspicions.set(s.node, new Suspicion(s.from, k, minMs, maxMs, this.#now));
    this.#emit("suspect", m, previous, s.from);
    if (s.from !== this.selfId) this.#prioritizeProbe(s.node);
  }

  #deadNode(d: DeadMessage): void {
    const m = this.#members.get(d.node);
    if (m === undefined || d.inc < m.incarnation) return;
    this.#suspicions.delete(d.node);
    if (m.state === "dead" || m.state === "left") return;
    if (d.node === this.selfId) {
      if (!this.#leaving) {
        this.#refute(d.inc);
        return;
      }
      this.#broadcasts.push(d);
      m.state = "left";
      m.stateChangeMs = this.#now;
      return;
    }
    this.#broadcasts.push(d);
    const previous = m.state;
    m.incarnation = d.inc;
    m.state = d.from === d.node ? "left" : "dead";
    m.stateChangeMs = this.#now;
    this.#emit(m.state, m, previous, d.from);
  }

  #refute(accusedIncarnation: number): void {
    const self = this.#self();
    self.incarnation = Math.max(self.incarnation, accusedIncarnation) + 1;
    this.#awareness.applyDelta(1);
    this.#broadcasts.push(this.#aliveOf(self));
    this.#emit("refuted", self, self.state);
  }

  // ---------------------------------------------------------------- helpers

  #sendPacket(to: string, messages: SwimMessage[]): void {
    this.#packets.push({ to, messages });
  }

  #sendWithPiggyback(to: string, message: SwimMessage): void {
    const budget = this.#config.maxPacketBytes - encodedSize(message) - PIGGYBACK_OVERHEAD_BYTES;
    this.#packets.push({ to, messages: [message, ...this.#takeBroadcasts(budget, to)] });
  }

  /** Broadcasts for a packet to `to`; a member believed dead or left only gets news about itself. */
  #takeBroadcasts(budgetBytes: number, to: string): BroadcastMessage[] {
    const n = this.#othersIn(["alive", "suspect", "dead"]).length + 1;
    const state = this.#members.get(to)?.state;
    return this.#broadcasts.take(
      budgetBytes,
      PIGGYBACK_OVERHEAD_BYTES,
      retransmitLimit(this.#config.retransmitMult, n),
      to,
      state === "dead" || state === "left",
    );
  }

  #localState(): PushPullState[] {
    return [...this.#members.values()].map((m) => ({
      node: m.id,
      inc: m.incarnation,
      state: m.state,
      meta: m.metadata,
    }));
  }

  #othersIn(states: readonly MemberState[]): string[] {
    const ids: string[] = [];
    for (const m of this.#members.values()) {
      if (m.id !== this.selfId && states.includes(m.state)) ids.push(m.id);
    }
    return ids;
  }

  #self(): MemberRecord {
    return this.#members.get(this.selfId) as MemberRecord;
  }

  #aliveOf(m: MemberRecord): AliveMessage {
    return { t: "alive", node: m.id, inc: m.incarnation, meta: m.metadata };
  }

  #info(m: MemberRecord): MemberInfo {
    return {
      id: m.id,
      endpoint: m.id,
      state: m.state,
      incarnation: m.incarnation,
      metadata: m.metadata,
    };
  }

  #emit(
    kind: MembershipEvent["kind"],
    m: MemberRecord,
    previous: MemberState | "none",
    accuser?: string,
  ): void {
    this.#events.push(
      accuser === undefined
        ? { kind, member: this.#info(m), previous }
        : { kind, member: this.#info(m), previous, accuser },
    );
  }

  #checkMetadata(metadata: NodeMetadata): NodeMetadata {
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

  #flush(): MembershipOutput {
    const out = {
      packets: this.#packets,
      events: this.#events,
      nextDeadlineMs: this.#nextDeadlineMs(),
    };
    this.#packets = [];
    this.#events = [];
    return out;
  }
}

/** memberlist's push-pull scaling: the interval grows with log2(n) above 32 members. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  const threshold = 32;
  if (n <= threshold) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1;
  return intervalMs * multiplier;
}

function sameMetadata(a: NodeMetadata, b: NodeMetadata): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
