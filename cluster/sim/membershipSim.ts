/**
 * A seeded, single-process simulator of many {@link MembershipCore}s on a fake
 * network with virtual time: latency, message loss, partitions, crashes, restarts
 * and pauses. Every run replays from its seed. Packets go through the real msgpack
 * codec; byte counts are whole TCP transport frames (prefix, envelope, payload).
 *
 * @module
 */

import { type MembershipConfig, resolveMembershipConfig } from "../config.ts";
import {
  decodePacket,
  encodePacket,
  MEMBERSHIP_CHANNEL,
  type NodeMetadata,
  type SwimMessage,
} from "../messages.ts";
import { encodeFrame } from "../frames.ts";
import {
  type MemberInfo,
  MembershipCore,
  type MembershipEvent,
  type MembershipOutput,
} from "../membership.ts";
import { createSeededRandom, type Random } from "../rng.ts";

/** Options of {@link MembershipSim}. */
export interface MembershipSimOptions {
  seed: number;
  config?: Partial<MembershipConfig>;
  /** One-way latency bounds (uniform). Default 1..5 ms. */
  latencyMinMs?: number;
  latencyMaxMs?: number;
  /** Probability that a packet is lost. Default 0. */
  lossRate?: number;
  /** Called for every packet sent (debugging a seed). */
  trace?: (atMs: number, from: string, to: string, messages: readonly SwimMessage[]) => void;
}

/** An event observed by one node at a virtual time. */
export interface ObservedEvent {
  readonly atMs: number;
  readonly observer: string;
  readonly event: MembershipEvent;
}

interface SimNode {
  readonly id: string;
  core: MembershipCore;
  seeds: string[];
  up: boolean;
  paused: boolean;
  deadlineMs: number;
  readonly buffered: { from: string; bytes: Uint8Array }[];
}

interface InFlight {
  readonly atMs: number;
  readonly order: number;
  readonly from: string;
  readonly to: string;
  readonly bytes: Uint8Array;
}

const MAX_BUFFERED_WHILE_PAUSED = 10_000;
const MAX_STEPS_PER_RUN = 50_000_000;

const defaultMetadata = (id: string): NodeMetadata => ({
  mqttEndpoints: [`mqtt://${id.split(":")[0]}:1883`],
  stores: ["dist", "inbox", "retain"],
  load: { connections: 0 },
});

/** The simulator. */
export class MembershipSim {
  nowMs = 0;
  readonly config: MembershipConfig;
  readonly events: ObservedEvent[] = [];
  /** Bytes sent per node since the last {@link resetByteCounters}. */
  readonly bytesSent = new Map<string, number>();
  readonly #random: Random;
  readonly #nodes = new Map<string, SimNode>();
  #inFlight: InFlight[] = [];
  #order = 0;
  #groups: Map<string, number> | undefined;
  #lossRate: number;
  readonly #latencyMinMs: number;
  readonly #latencyMaxMs: number;
  readonly #trace: MembershipSimOptions["trace"];

  /** Creates an empty simulated cluster. */
  constructor(options: MembershipSimOptions) {
    this.#random = createSeededRandom(options.seed);
    this.config = resolveMembershipConfig(options.config);
    this.#lossRate = options.lossRate ?? 0;
    this.#latencyMinMs = options.latencyMinMs ?? 1;
    this.#latencyMaxMs = options.latencyMaxMs ?? 5;
    this.#trace = options.trace;
  }

  /** Starts a node that joins through `seeds`. */
  start(id: string, seeds: string[]): void {
    const existing = this.#nodes.get(id);
    if (existing?.up) throw new Error(`node ${id} is already running`);
    const core = new MembershipCore({
      selfId: id,
      metadata: defaultMetadata(id),
      config: this.config,
      random: createSeededRandom(Math.floor(this.#random.next() * 2 ** 32)),
      nowMs: this.nowMs,
    });
    const node: SimNode = {
      id,
      core,
      seeds,
      up: true,
      paused: false,
      deadlineMs: Infinity,
      buffered: [],
    };
    this.#nodes.set(id, node);
    this.#apply(node, core.join(seeds, this.nowMs));
  }

  /** Makes a node leave gracefully (it keeps running, gossiping its departure). */
  leave(id: string): void {
    const node = this.#node(id);
    this.#apply(node, node.core.leave(this.nowMs));
  }

  /** Crashes a node: its state is lost and packets to it are dropped. */
  crash(id: string): void {
    const node = this.#node(id);
    node.up = false;
    node.paused = false;
    node.buffered.length = 0;
  }

  /** Restarts a crashed node with fresh state (incarnation 1), joining its seeds again. */
  restart(id: string): void {
    this.start(id, this.#node(id).seeds);
  }

  /** Pauses a node (a stopped process): no timers run; packets to it wait in its buffer. */
  pause(id: string): void {
    this.#node(id).paused = true;
  }

  /** Resumes a paused node: buffered packets are delivered, then its timers run. */
  resume(id: string): void {
    const node = this.#node(id);
    node.paused = false;
    for (const p of node.buffered.splice(0)) this.#deliver(node, p.from, p.bytes);
    this.#apply(node, node.core.onTick(this.nowMs));
  }

  /** Splits the network: packets between different groups are dropped. */
  partition(groups: string[][]): void {
    this.#groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.#groups?.set(id, i)));
  }

  /** Removes any partition. */
  heal(): void {
    this.#groups = undefined;
  }

  /** Changes the packet loss probability. */
  setLossRate(rate: number): void {
    this.#lossRate = rate;
  }

  /** Ids of running (not crashed) nodes, paused ones included. */
  runningIds(): string[] {
    return [...this.#nodes.values()].filter((n) => n.up).map((n) => n.id);
  }

  /** The member list as seen by `id`. */
  view(id: string): MemberInfo[] {
    return this.#node(id).core.members();
  }

  /** The core of a node (for inspection). */
  core(id: string): MembershipCore {
    return this.#node(id).core;
  }

  /** Zeroes the byte counters. */
  resetByteCounters(): void {
    this.bytesSent.clear();
  }

  /** Advances virtual time by `durationMs`. */
  runFor(durationMs: number): void {
    this.#runUntilTime(this.nowMs + durationMs, () => false);
  }

  /**
   * Advances until `predicate` holds (checked after every step) or `maxMs` elapse.
   * Returns the elapsed virtual ms, or undefined on timeout.
   */
  runUntil(predicate: () => boolean, maxMs: number): number | undefined {
    const start = this.nowMs;
    if (predicate()) return 0;
    const ok = this.#runUntilTime(start + maxMs, predicate);
    return ok ? this.nowMs - start : undefined;
  }

  #runUntilTime(endMs: number, predicate: () => boolean): boolean {
    for (let step = 0; step < MAX_STEPS_PER_RUN; step++) {
      let nextNode: SimNode | undefined;
      for (const n of this.#nodes.values()) {
        if (n.up && !n.paused && (nextNode === undefined || n.deadlineMs < nextNode.deadlineMs)) {
          nextNode = n;
        }
      }
      const nextPacket = this.#inFlight[0];
      const nodeAt = nextNode?.deadlineMs ?? Infinity;
      const packetAt = nextPacket?.atMs ?? Infinity;
      const at = Math.min(nodeAt, packetAt);
      if (at > endMs) {
        this.nowMs = endMs;
        return false;
      }
      this.nowMs = Math.max(this.nowMs, at);
      if (packetAt <= nodeAt && nextPacket !== undefined) {
        this.#popPacket();
        const to = this.#nodes.get(nextPacket.to);
        if (to !== undefined && to.up) {
          if (to.paused) {
            if (to.buffered.length < MAX_BUFFERED_WHILE_PAUSED) {
              to.buffered.push({ from: nextPacket.from, bytes: nextPacket.bytes });
            }
          } else {
            this.#deliver(to, nextPacket.from, nextPacket.bytes);
          }
        }
      } else if (nextNode !== undefined) {
        this.#apply(nextNode, nextNode.core.onTick(this.nowMs));
      }
      if (predicate()) return true;
    }
    throw new Error(`simulation exceeded ${MAX_STEPS_PER_RUN} steps`);
  }

  #deliver(node: SimNode, from: string, bytes: Uint8Array): void {
    this.#apply(node, node.core.onMessage(from, decodePacket(bytes), this.nowMs));
  }

  #apply(node: SimNode, out: MembershipOutput): void {
    node.deadlineMs = out.nextDeadlineMs;
    for (const event of out.events) {
      this.events.push({ atMs: this.nowMs, observer: node.id, event });
    }
    for (const packet of out.packets) {
      this.#trace?.(this.nowMs, node.id, packet.to, packet.messages);
      const bytes = encodePacket(packet.messages);
      // Count what the TCP transport puts on the wire: prefix + [kind, channel, payload].
      const wireBytes = encodeFrame([0, MEMBERSHIP_CHANNEL, bytes]).byteLength;
      this.bytesSent.set(node.id, (this.bytesSent.get(node.id) ?? 0) + wireBytes);
      if (this.#random.next() < this.#lossRate) continue;
      if (this.#groups !== undefined) {
        const a = this.#groups.get(node.id);
        const b = this.#groups.get(packet.to);
        if (a !== b) continue;
      }
      const latency = this.#latencyMinMs +
        this.#random.next() * (this.#latencyMaxMs - this.#latencyMinMs);
      this.#pushPacket({
        atMs: this.nowMs + latency,
        order: this.#order++,
        from: node.id,
        to: packet.to,
        bytes,
      });
    }
  }

  #node(id: string): SimNode {
    const node = this.#nodes.get(id);
    if (node === undefined) throw new Error(`unknown node ${id}`);
    return node;
  }

  // A binary min-heap on (atMs, order).
  #less(a: InFlight, b: InFlight): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
  }

  #pushPacket(p: InFlight): void {
    const heap = this.#inFlight;
    heap.push(p);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #popPacket(): void {
    const heap = this.#inFlight;
    const last = heap.pop() as InFlight;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.#less(heap[l], heap[m])) m = l;
      if (r < heap.length && this.#less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
}

/** Cluster endpoints `127.0.0.1:7001` … for `n` simulated nodes. */
export function simIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:7946`);
}

/** Whether every node in `ids` sees every other node in `ids` as alive. */
export function allSeeAllAlive(sim: MembershipSim, ids: readonly string[]): boolean {
  for (const observer of ids) {
    const view = new Map(sim.view(observer).map((m) => [m.id, m.state]));
    for (const id of ids) if (view.get(id) !== "alive") return false;
  }
  return true;
}

/** Whether every node in `observers` sees `target` in `state`. */
export function allSee(
  sim: MembershipSim,
  observers: readonly string[],
  target: string,
  state: MemberInfo["state"],
): boolean {
  return observers.every((o) => sim.view(o).find((m) => m.id === target)?.state === state);
}
