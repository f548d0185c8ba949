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
 * This file schedules (probes, gossip, push-pull, join, re-join); the state rules
 * live in `memberTable.ts`.
 *
 * @module
 */

import { retransmitLimit } from "./broadcastQueue.ts";
import type { MembershipConfig } from "./config.ts";
import {
  type MemberInfo,
  type MemberRecord,
  type MembershipEvent,
  MemberTable,
} from "./memberTable.ts";
import {
  type BroadcastMessage,
  type DeadMessage,
  encodedSize,
  type NodeMetadata,
  type SwimMessage,
} from "./messages.ts";
import { type Random, randomInt, sample, shuffle } from "./rng.ts";

export type { MemberInfo, MembershipEvent };

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
  readonly #table: MemberTable;
  readonly #relays = new Map<number, Relay>();
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
  #packets: OutPacket[] = [];

  /** Creates the core with only this node, alive, in its member table. */
  constructor(options: MembershipCoreOptions) {
    const { config } = options;
    this.selfId = options.selfId;
    this.#config = config;
    this.#random = options.random;
    this.#now = options.nowMs;
    this.#table = new MemberTable(
      options.selfId,
      options.metadata,
      options.incarnation ?? 1,
      config,
      options.nowMs,
      {
        onNewMember: (id) => {
          this.#unknownPulls.delete(id);
          this.#probeOrder.splice(randomInt(this.#random, this.#probeOrder.length + 1), 0, id);
        },
        onSuspectedByOther: (id) => this.#prioritizeProbe(id),
      },
    );
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
    this.#setNow(nowMs);
    this.#seeds = [...new Set(seeds)].filter((s) => s !== this.selfId);
    this.#nextJoinAtMs = nowMs;
    this.#runTimers();
    return this.#flush();
  }

  /** Processes all timers due at `nowMs`. */
  onTick(nowMs: number): MembershipOutput {
    this.#setNow(nowMs);
    this.#runTimers();
    return this.#flush();
  }

  /** Processes one packet received from the authenticated member `from`. */
  onMessage(from: string, messages: readonly SwimMessage[], nowMs: number): MembershipOutput {
    this.#setNow(nowMs);
    const replies: { to: string; message: SwimMessage }[] = [];
    const sender = this.#table.get(from);
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
    this.#setNow(nowMs);
    this.#prioritizeProbe(id);
    return this.#flush();
  }

  /** Changes this node's metadata; the new version is gossiped with a higher incarnation. */
  updateMetadata(metadata: NodeMetadata, nowMs: number): MembershipOutput {
    this.#setNow(nowMs);
    this.#table.updateMetadata(metadata);
    return this.#flush();
  }

  /**
   * Leaves gracefully: a `dead` message from this node about itself is sent to every
   * live member and queued for gossip; probing, push-pull and re-join stop. The driver
   * should keep ticking for a moment (gossip) before closing.
   */
  leave(nowMs: number): MembershipOutput {
    this.#setNow(nowMs);
    if (this.#table.leaving) return this.#flush();
    this.#table.leaving = true;
    this.#probe = undefined;
    const self = this.#table.self();
    const message: DeadMessage = {
      t: "dead",
      node: this.selfId,
      inc: self.incarnation,
      from: this.selfId,
    };
    this.#table.deadNode(message);
    for (const m of this.#table.records()) {
      if (m.id !== this.selfId && (m.state === "alive" || m.state === "suspect")) {
        this.#packets.push({ to: m.id, messages: [message] });
      }
    }
    return this.#flush();
  }

  /** Whether broadcasts are still waiting to be gossiped (used to drain on leave). */
  get pendingBroadcasts(): number {
    return this.#table.broadcasts.size;
  }

  /** Local health score (0 = healthy). */
  get healthScore(): number {
    return this.#table.awareness.score;
  }

  /** Every known member including this node, sorted by id. */
  members(): MemberInfo[] {
    return this.#table.records().map((m) => this.#table.info(m)).sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    );
  }

  /** One member, or undefined. */
  member(id: string): MemberInfo | undefined {
    const m = this.#table.get(id);
    return m === undefined ? undefined : this.#table.info(m);
  }

  // ---------------------------------------------------------------- timers

  #setNow(nowMs: number): void {
    this.#now = Math.max(this.#now, nowMs);
    this.#table.nowMs = this.#now;
  }

  #nextDeadlineMs(): number {
    let next = Math.min(
      this.#nextGossipAtMs,
      this.#table.leaving ? Infinity : this.#nextProbeAtMs,
      this.#table.leaving ? Infinity : this.#nextPushPullAtMs,
      this.#table.leaving ? Infinity : this.#nextReconnectAtMs,
      this.#table.leaving ? Infinity : this.#nextJoinAtMs,
    );
    if (this.#probe !== undefined) {
      next = Math.min(
        next,
        this.#probe.indirectSent ? this.#probe.endAtMs : this.#probe.indirectAtMs,
      );
    }
    for (const r of this.#relays.values()) next = Math.min(next, r.deadlineMs);
    next = Math.min(next, this.#table.nextSuspicionDeadlineMs());
    return next;
  }

  #runTimers(): void {
    const now = this.#now;
    for (const [seq, relay] of this.#relays) {
      if (now < relay.deadlineMs) continue;
      this.#relays.delete(seq);
      if (relay.nack) this.#sendWithPiggyback(relay.origin, { t: "nack", seq: relay.originSeq });
    }
    this.#table.expireSuspicions();
    if (!this.#table.leaving) {
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
        this.#table.othersIn(["alive"]).filter((id) => id !== probe.target),
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
      if (missed > 0) this.#table.awareness.applyDelta(missed);
      const m = this.#table.get(probe.target);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) {
        // The incarnation probed, not the current one: a member that restarted and
        // refuted while this probe was in flight is not accused.
        this.#table.suspectNode({
          t: "suspect",
          node: m.id,
          inc: probe.incarnation,
          from: this.selfId,
        });
      }
    }
    if (this.#probe === undefined && now >= this.#nextProbeAtMs) {
      const intervalMs = this.#table.awareness.scaleTimeoutMs(this.#config.probeIntervalMs);
      this.#nextProbeAtMs = now + intervalMs;
      const target = this.#nextProbeTarget();
      if (target === undefined) return;
      const seq = ++this.#seq;
      this.#probe = {
        target: target.id,
        incarnation: target.incarnation,
        seq,
        indirectAtMs: now + this.#table.awareness.scaleTimeoutMs(this.#config.probeTimeoutMs),
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
      const m = this.#table.get(id);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) return m;
    }
    for (let checked = 0; checked <= this.#probeOrder.length; checked++) {
      if (this.#probeIndex >= this.#probeOrder.length) {
        this.#resetProbeOrder();
        if (this.#probeOrder.length === 0) return undefined;
      }
      const id = this.#probeOrder[this.#probeIndex++];
      const m = this.#table.get(id);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) return m;
    }
    return undefined;
  }

  #resetProbeOrder(): void {
    // Forget long-dead and long-left members here, once per round, as memberlist does.
    this.#table.reap();
    this.#probeOrder = shuffle(
      this.#random,
      this.#table.records().map((m) => m.id).filter((id) => id !== this.selfId),
    );
    this.#probeIndex = 0;
  }

  #prioritizeProbe(id: string): void {
    if (id === this.selfId || this.#table.leaving) return;
    if (this.#probe?.target === id || this.#priorityProbes.includes(id)) return;
    const m = this.#table.get(id);
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
    if (this.#table.leaving || from === this.selfId) return;
    const sentAtMs = this.#unknownPulls.get(from);
    if (sentAtMs !== undefined && this.#now - sentAtMs < this.#config.probeIntervalMs) return;
    if (this.#unknownPulls.size >= MAX_UNKNOWN_PULLS) {
      for (const [id, at] of this.#unknownPulls) {
        if (this.#now - at >= this.#config.probeIntervalMs) this.#unknownPulls.delete(id);
      }
      if (this.#unknownPulls.size >= MAX_UNKNOWN_PULLS) return;
    }
    this.#unknownPulls.set(from, this.#now);
    this.#sendPacket(from, [{
      t: "pp",
      join: false,
      resp: false,
      states: this.#table.localState(),
    }]);
  }

  #runJoin(now: number): void {
    if (this.#seeds.length === 0 || this.#table.othersIn(["alive", "suspect"]).length > 0) {
      // Joined (or nothing to join): check again later in case we end up alone.
      this.#nextJoinAtMs = this.#seeds.length === 0
        ? Infinity
        : now + this.#config.joinRetryIntervalMs;
      return;
    }
    this.#nextJoinAtMs = now + this.#config.joinRetryIntervalMs;
    const states = this.#table.localState();
    for (const seed of this.#seeds) {
      this.#sendPacket(seed, [{ t: "pp", join: true, resp: false, states }]);
    }
  }

  #runPushPull(now: number): void {
    const alive = this.#table.othersIn(["alive"]);
    this.#nextPushPullAtMs = now +
      pushPullScaleMs(this.#config.pushPullIntervalMs, alive.length + 1);
    if (alive.length === 0) return;
    const peer = alive[randomInt(this.#random, alive.length)];
    this.#sendPacket(peer, [{
      t: "pp",
      join: false,
      resp: false,
      states: this.#table.localState(),
    }]);
  }

  #runReconnect(now: number): void {
    this.#nextReconnectAtMs = now + this.#config.reconnectIntervalMs;
    const dead = this.#table.othersIn(["dead"]);
    if (dead.length === 0) return;
    const peer = dead[randomInt(this.#random, dead.length)];
    this.#sendPacket(peer, [{
      t: "pp",
      join: false,
      resp: false,
      states: this.#table.localState(),
    }]);
  }

  #gossip(now: number): void {
    if (this.#table.broadcasts.size === 0) return;
    const candidates = this.#table.records().filter((m) =>
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
          this.#table.awareness.applyDelta(-1);
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
        this.#table.aliveNode(message);
        return;
      case "suspect":
        this.#table.suspectNode(message);
        return;
      case "dead":
        this.#table.deadNode(message);
        return;
      case "pp":
        this.#table.mergeState(message.states);
        if (!message.resp) {
          // Merge first, so that the answer already carries our refutations.
          replies.push({
            to: from,
            message: { t: "pp", join: message.join, resp: true, states: this.#table.localState() },
          });
        }
        return;
    }
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
    const n = this.#table.othersIn(["alive", "suspect", "dead"]).length + 1;
    const state = this.#table.get(to)?.state;
    return this.#table.broadcasts.take(
      budgetBytes,
      PIGGYBACK_OVERHEAD_BYTES,
      retransmitLimit(this.#config.retransmitMult, n),
      to,
      state === "dead" || state === "left",
    );
  }

  #flush(): MembershipOutput {
    const out = {
      packets: this.#packets,
      events: this.#table.takeEvents(),
      nextDeadlineMs: this.#nextDeadlineMs(),
    };
    this.#packets = [];
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
