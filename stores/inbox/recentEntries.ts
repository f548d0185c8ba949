/**
 * An in-memory copy of the newest queued entries of recently written inboxes,
 * so that an online session reading back what was just enqueued costs no
 * query and no decode. Derived state: for each inbox it holds a window
 * `[start, ∞)` and, inside the window, exactly the rows the table holds. It is
 * dropped on any rollback and bounded in entries per inbox, in total entries
 * and in payload bytes (least recently written inboxes go first).
 *
 * @module
 */
import type { InboxEntry } from "./inboxStore.ts";

/** Bounds of {@link RecentEntries}. */
export interface RecentEntriesOptions {
  /** Newest entries kept per inbox. Default 256. 0 disables the cache. */
  readonly maxEntriesPerInbox?: number;
  /** Entries kept over all inboxes. Default 65,536. */
  readonly maxEntries?: number;
  /** Payload bytes (+256 per entry) kept over all inboxes. Default 64 MiB. */
  readonly maxBytes?: number;
}

interface Window {
  /** Every table row of the inbox with seq >= start is in `entries`. */
  start: number;
  /** By seq, in increasing seq order (insertion order). */
  readonly entries: Map<number, InboxEntry>;
}

const ENTRY_OVERHEAD_BYTES = 256;

function cost(e: InboxEntry): number {
  return e.message.payload.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** See the module docs. Keys are opaque inbox key strings. */
export class RecentEntries {
  readonly #perInbox: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  /** In least-recently-written-first order. */
  readonly #windows = new Map<string, Window>();
  #entries = 0;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /** Creates an empty cache with the given bounds. */
  constructor(options: RecentEntriesOptions = {}) {
    this.#perInbox = options.maxEntriesPerInbox ?? 256;
    this.#maxEntries = options.maxEntries ?? 65_536;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    for (
      const [name, v] of [
        ["maxEntriesPerInbox", this.#perInbox],
        ["maxEntries", this.#maxEntries],
        ["maxBytes", this.#maxBytes],
      ] as const
    ) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(`recent entries ${name} must be a non-negative integer, got ${v}`);
      }
    }
  }

  /** Reads served from memory / from the table. */
  stats(): { hits: number; misses: number; entries: number; bytes: number } {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries, bytes: this.#bytes };
  }

  /** Forgets everything. */
  clear(): void {
    this.#windows.clear();
    this.#entries = 0;
    this.#bytes = 0;
  }

  /** Forgets one inbox (wiped, or changed in a way not tracked here). */
  drop(key: string): void {
    const w = this.#windows.get(key);
    if (w === undefined) return;
    for (const e of w.entries.values()) {
      this.#entries--;
      this.#bytes -= cost(e);
    }
    this.#windows.delete(key);
  }

  /** Whether entries are kept at all (`maxEntriesPerInbox` > 0); if not, `appended` is a no-op. */
  get enabled(): boolean {
    return this.#perInbox > 0;
  }

  /** A row was appended with `entry.seq` = the inbox's previous lastSeq + 1. */
  appended(key: string, entry: InboxEntry): void {
    if (this.#perInbox === 0) return;
    let w = this.#windows.get(key);
    if (w === undefined) {
      // No row beyond lastSeq exists, so a window may start at the new seq.
      w = { start: entry.seq, entries: new Map() };
    } else {
      this.#windows.delete(key); // re-insert: most recently written last
    }
    this.#windows.set(key, w);
    w.entries.set(entry.seq, entry);
    this.#entries++;
    this.#bytes += cost(entry);
    while (w.entries.size > this.#perInbox) this.#trimFront(w);
    while (
      (this.#entries > this.#maxEntries || this.#bytes > this.#maxBytes) && this.#windows.size > 0
    ) {
      const oldest = this.#windows.keys().next();
      if (oldest.done === true) break;
      if (oldest.value === key && this.#windows.size === 1) {
        this.#trimFront(w);
        if (w.entries.size === 0) break;
      } else this.drop(oldest.value);
    }
  }

  #trimFront(w: Window): void {
    const first = w.entries.entries().next();
    if (first.done === true) return;
    const [seq, e] = first.value;
    w.entries.delete(seq);
    w.start = seq + 1;
    this.#entries--;
    this.#bytes -= cost(e);
  }

  /** The row `seq` was deleted. */
  removed(key: string, seq: number): void {
    const w = this.#windows.get(key);
    const e = w?.entries.get(seq);
    if (w === undefined || e === undefined) return;
    w.entries.delete(seq);
    this.#entries--;
    this.#bytes -= cost(e);
  }

  /** The row `seq` changed state to released. */
  released(key: string, seq: number): void {
    const w = this.#windows.get(key);
    const e = w?.entries.get(seq);
    if (w !== undefined && e !== undefined) w.entries.set(seq, { ...e, state: "released" });
  }

  /**
   * The entries with seq > `afterSeq` in order, or null when the window does
   * not cover them all (the caller then reads the table). Calls `visit` for
   * each; `visit` returns false to stop.
   */
  scan(key: string, afterSeq: number, visit: (e: InboxEntry) => boolean): boolean {
    const w = this.#windows.get(key);
    if (w === undefined || afterSeq + 1 < w.start) {
      this.#misses++;
      return false;
    }
    this.#hits++;
    for (const e of w.entries.values()) {
      if (e.seq <= afterSeq) continue;
      if (!visit(e)) break;
    }
    return true;
  }
}
