/**
 * A bounded, retransmit-limited broadcast queue (memberlist `TransmitLimitedQueue`).
 * News about a member invalidates the older news about it: an `alive` or `dead`
 * replaces everything queued about that member; a `suspect` replaces only the
 * suspicion by the same accuser, so independent accusations (Lifeguard's
 * confirmations) travel side by side. Each `take` prefers the least transmitted, then
 * the newest broadcasts that fit the byte budget; a broadcast is retired once it has
 * been piggybacked `retransmitLimit` times.
 *
 * @module
 */

import { type BroadcastMessage, encodedSize } from "./messages.ts";

interface QueuedBroadcast {
  readonly key: string;
  readonly node: string;
  readonly message: BroadcastMessage;
  readonly sizeBytes: number;
  readonly order: number;
  transmits: number;
}

/** The retransmit limit for a cluster of `n` members: `mult * ceil(log10(n + 1))`. */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** Queue of pending membership broadcasts. */
export class BroadcastQueue {
  readonly #items = new Map<string, QueuedBroadcast>();
  readonly #keysByNode = new Map<string, Set<string>>();
  readonly #maxItems: number;
  #order = 0;
  /** Broadcasts dropped because the queue was full (observability). */
  droppedCount = 0;

  /** @param maxItems bound of the queue; see `MembershipConfig.maxQueuedBroadcasts`. */
  constructor(maxItems: number) {
    this.#maxItems = maxItems;
  }

  /** Number of queued broadcasts. */
  get size(): number {
    return this.#items.size;
  }

  /** Whether a broadcast about `node` is still queued. */
  has(node: string): boolean {
    return (this.#keysByNode.get(node)?.size ?? 0) > 0;
  }

  /** Queues `message`, invalidating older news about the same member (see module doc). */
  push(message: BroadcastMessage): void {
    const node = message.node;
    if (message.t === "suspect") {
      this.#delete(`${node}\u0000suspect\u0000${message.from}`);
      this.#delete(node);
    } else {
      for (const key of [...(this.#keysByNode.get(node) ?? [])]) this.#delete(key);
    }
    const key = message.t === "suspect" ? `${node}\u0000suspect\u0000${message.from}` : node;
    if (this.#items.size >= this.#maxItems) this.#dropMostTransmitted();
    this.#items.set(key, {
      key,
      node,
      message,
      sizeBytes: encodedSize(message),
      order: this.#order++,
      transmits: 0,
    });
    let keys = this.#keysByNode.get(node);
    if (keys === undefined) this.#keysByNode.set(node, keys = new Set());
    keys.add(key);
  }

  #delete(key: string): void {
    const item = this.#items.get(key);
    if (item === undefined) return;
    this.#items.delete(key);
    const keys = this.#keysByNode.get(item.node);
    keys?.delete(key);
    if (keys !== undefined && keys.size === 0) this.#keysByNode.delete(item.node);
  }

  #dropMostTransmitted(): void {
    let worst: QueuedBroadcast | undefined;
    for (const item of this.#items.values()) {
      if (
        worst === undefined || item.transmits > worst.transmits ||
        (item.transmits === worst.transmits && item.order < worst.order)
      ) worst = item;
    }
    if (worst !== undefined) {
      this.#delete(worst.key);
      this.droppedCount++;
    }
  }

  /**
   * Takes broadcasts for a packet to `to` whose encoded sizes plus
   * `overheadBytesPerItem` each fit in `budgetBytes`, counting one transmission for
   * each and retiring those that reach `limit` transmissions. An `alive` about `to`
   * itself is never sent to it (it knows). With `onlyAboutTarget`, only news about `to`
   * is taken (a packet to a member believed dead carries only what lets it refute).
   */
  take(
    budgetBytes: number,
    overheadBytesPerItem: number,
    limit: number,
    to: string,
    onlyAboutTarget = false,
  ): BroadcastMessage[] {
    if (this.#items.size === 0 || budgetBytes <= 0) return [];
    const candidates = onlyAboutTarget
      ? [...(this.#keysByNode.get(to) ?? [])].map((k) => this.#items.get(k) as QueuedBroadcast)
      : [...this.#items.values()];
    const useful = candidates.filter((item) => !(item.node === to && item.message.t === "alive"));
    const ordered = useful.sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const taken: BroadcastMessage[] = [];
    let remaining = budgetBytes;
    for (const item of ordered) {
      const cost = item.sizeBytes + overheadBytesPerItem;
      if (cost > remaining) continue;
      remaining -= cost;
      taken.push(item.message);
      item.transmits++;
      if (item.transmits >= limit) this.#delete(item.key);
    }
    return taken;
  }

  /** Drops everything. */
  clear(): void {
    this.#items.clear();
    this.#keysByNode.clear();
  }
}
