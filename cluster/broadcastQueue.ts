/**
 * A bounded, retransmit-limited broadcast queue (memberlist `TransmitLimitedQueue`).
 * At most one broadcast per member is queued: a newer one about the same member
 * replaces (invalidates) the older. Each `take` prefers the least transmitted, then
 * the newest broadcasts that fit the byte budget; a broadcast is retired once it has
 * been piggybacked `retransmitLimit` times.
 *
 * @module
 */

import { type BroadcastMessage, encodedSize } from "./messages.ts";

interface QueuedBroadcast {
  readonly key: string;
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
    return this.#items.has(node);
  }

  /** Queues `message`, replacing any older broadcast about the same member. */
  push(message: BroadcastMessage): void {
    const key = message.node;
    this.#items.delete(key);
    if (this.#items.size >= this.#maxItems) this.#dropMostTransmitted();
    this.#items.set(key, {
      key,
      message,
      sizeBytes: encodedSize(message),
      order: this.#order++,
      transmits: 0,
    });
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
      this.#items.delete(worst.key);
      this.droppedCount++;
    }
  }

  /**
   * Takes broadcasts whose encoded sizes plus `overheadBytesPerItem` each fit in
   * `budgetBytes`, counting one transmission for each and retiring those that reach
   * `limit` transmissions.
   */
  take(budgetBytes: number, overheadBytesPerItem: number, limit: number): BroadcastMessage[] {
    if (this.#items.size === 0 || budgetBytes <= 0) return [];
    const ordered = [...this.#items.values()].sort((a, b) =>
      a.transmits - b.transmits || b.order - a.order
    );
    const taken: BroadcastMessage[] = [];
    let remaining = budgetBytes;
    for (const item of ordered) {
      const cost = item.sizeBytes + overheadBytesPerItem;
      if (cost > remaining) continue;
      remaining -= cost;
      taken.push(item.message);
      item.transmits++;
      if (item.transmits >= limit) this.#items.delete(item.key);
    }
    return taken;
  }

  /** Drops everything. */
  clear(): void {
    this.#items.clear();
  }
}
