/**
 * In-memory transport for tests and single-process clusters: a hub that
 * connects nodes, delivers asynchronously (a microtask later), and can cut
 * links to model partitions.
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";
import type { RaftEnvelope, RaftReceiveHandler, RaftTransport } from "./transport.ts";

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /**
   * Maximum batches queued for delivery across the hub; sends beyond it are
   * dropped (as a congested network would). Default 100 000.
   */
  readonly maxQueuedBatches?: number;
}

/** A set of in-memory links between nodes. */
export class MemoryNetwork {
  readonly #endpoints = new Map<ReplicaId, MemoryTransport>();
  readonly #blocked = new Set<string>();
  readonly #maxQueuedBatches: number;
  #queued = 0;
  /** Batches delivered and dropped so far. */
  delivered = 0;
  dropped = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.#maxQueuedBatches = options.maxQueuedBatches ?? 100_000;
  }

  /** Creates (or replaces) the transport endpoint of `id`. */
  connect(id: ReplicaId): MemoryTransport {
    const t = new MemoryTransport(id, this);
    this.#endpoints.set(id, t);
    return t;
  }

  /** Cuts the link from `a` to `b` (and back unless `oneWay`). */
  cut(a: ReplicaId, b: ReplicaId, oneWay = false): void {
    this.#blocked.add(`${a}>${b}`);
    if (!oneWay) this.#blocked.add(`${b}>${a}`);
  }

  /** Cuts every link of `id`. */
  isolate(id: ReplicaId): void {
    for (const other of this.#endpoints.keys()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.#blocked.clear();
  }

  /** @internal */
  route(from: ReplicaId, to: ReplicaId, batch: readonly RaftEnvelope[]): void {
    if (this.#blocked.has(`${from}>${to}`) || this.#queued >= this.#maxQueuedBatches) {
      this.dropped++;
      return;
    }
    this.#queued++;
    queueMicrotask(() => {
      this.#queued--;
      const target = this.#endpoints.get(to);
      if (target === undefined || this.#blocked.has(`${from}>${to}`)) {
        this.dropped++;
        return;
      }
      this.delivered++;
      target.deliver(from, batch);
    });
  }

  /** @internal */
  disconnect(t: MemoryTransport): void {
    if (this.#endpoints.get(t.id) === t) this.#endpoints.delete(t.id);
  }
}

/** One node's endpoint on a {@link MemoryNetwork}. */
export class MemoryTransport implements RaftTransport {
  #handler: RaftReceiveHandler | null = null;
  #closed = false;

  constructor(readonly id: ReplicaId, readonly network: MemoryNetwork) {}

  send(to: ReplicaId, batch: readonly RaftEnvelope[]): void {
    if (this.#closed || batch.length === 0) return;
    this.network.route(this.id, to, batch);
  }

  onReceive(handler: RaftReceiveHandler): void {
    this.#handler = handler;
  }

  /** @internal */
  deliver(from: ReplicaId, batch: readonly RaftEnvelope[]): void {
    if (!this.#closed) this.#handler?.(from, batch);
  }

  close(): void {
    this.#closed = true;
    this.network.disconnect(this);
  }
}
