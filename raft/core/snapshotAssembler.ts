/**
 * Follower-side reassembly of a snapshot sent in chunks. One snapshot is
 * buffered at a time (memory bounded by `maxSnapshotBytes`); chunks may arrive
 * reordered or duplicated.
 *
 * @module
 */

import type { Snapshot } from "../storage/logStorage.ts";
import type { SnapshotChunk } from "./types.ts";

interface Assembly {
  readonly leaderTerm: number;
  readonly index: number;
  readonly term: number;
  readonly buffer: Uint8Array;
  /** Offsets of the chunks received (chunks of one send never overlap). */
  readonly offsets: Set<number>;
  received: number;
}

/** Collects chunks until a snapshot is complete. */
export class SnapshotAssembler {
  #current: Assembly | null = null;

  constructor(readonly maxSnapshotBytes: number) {}

  /**
   * Adds a chunk sent by the leader of `leaderTerm`; returns the snapshot once
   * every byte arrived, else null. A chunk of another snapshot (or leader
   * term) discards the partial one; oversized or malformed chunks are ignored.
   */
  add(leaderTerm: number, chunk: SnapshotChunk): Snapshot | null {
    if (chunk.totalBytes > this.maxSnapshotBytes) return null;
    const md = chunk.metadata;
    let a = this.#current;
    if (
      a === null || a.leaderTerm !== leaderTerm || a.index !== md.index || a.term !== md.term ||
      a.buffer.byteLength !== chunk.totalBytes
    ) {
      a = {
        leaderTerm,
        index: md.index,
        term: md.term,
        buffer: new Uint8Array(chunk.totalBytes),
        offsets: new Set(),
        received: 0,
      };
      this.#current = a;
    }
    const end = chunk.offset + chunk.data.byteLength;
    if (chunk.offset < 0 || end > a.buffer.byteLength) return null;
    if (!a.offsets.has(chunk.offset)) {
      a.offsets.add(chunk.offset);
      a.buffer.set(chunk.data, chunk.offset);
      a.received += chunk.data.byteLength;
    }
    if (a.received < a.buffer.byteLength) return null;
    this.#current = null;
    return { metadata: md, data: a.buffer };
  }
}
