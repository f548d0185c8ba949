/**
 * Pending read-index requests awaiting heartbeat confirmation from a quorum
 * (etcd-io/raft `read_only.go`).
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";
import type { Message } from "./types.ts";

/** A read-index request and the commit index it will be answered with. */
export interface ReadIndexStatus {
  readonly request: Message;
  readonly index: number;
  readonly acks: Set<ReplicaId>;
}

/** Hex key of a request context. */
export function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Read-index requests in arrival order. */
export class ReadOnly {
  #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  constructor(readonly maxPending: number) {}

  /** Number of pending requests. */
  get size(): number {
    return this.#queue.length;
  }

  /** Adds a request; returns false if it is a duplicate or the queue is full. */
  addRequest(index: number, m: Message): boolean {
    if (m.context === null) return false;
    const key = contextKey(m.context);
    if (this.#pending.has(key)) return false;
    if (this.#queue.length >= this.maxPending) return false;
    this.#pending.set(key, { request: m, index, acks: new Set() });
    this.#queue.push(key);
    return true;
  }

  /** Records a heartbeat ack for a context; returns the acks so far (or null). */
  recvAck(id: ReplicaId, ctx: Uint8Array): Set<ReplicaId> | null {
    const rs = this.#pending.get(contextKey(ctx));
    if (rs === undefined) return null;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Releases the request with context `ctx` and every request queued before
   * it (a quorum ack for a later request confirms the earlier ones too).
   */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.#queue.indexOf(key);
    if (at < 0) return [];
    const released = this.#queue.slice(0, at + 1);
    this.#queue = this.#queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of released) {
      const rs = this.#pending.get(k);
      if (rs !== undefined) out.push(rs);
      this.#pending.delete(k);
    }
    return out;
  }

  /** Context of the newest pending request (sent with heartbeats), or null. */
  lastPendingRequestCtx(): Uint8Array | null {
    if (this.#queue.length === 0) return null;
    return this.#pending.get(this.#queue[this.#queue.length - 1])?.request.context ?? null;
  }
}
