/**
 * Records of the SQLite log store: the in-memory mirror of a group's durable
 * state (bounds, hard state, term runs, tail cache), the checksums of every
 * row kind, and typed, corruption-aware column readers.
 *
 * @module
 */

import {
  CRC32C_INIT,
  crc32cFinish,
  crc32cUpdate,
  crc32cUpdateString,
  crc32cUpdateU32,
  crc32cUpdateUint,
} from "./crc32c.ts";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type GroupId,
  type HardState,
  type SnapshotMetadata,
  StorageCorruptionError,
  UnavailableError,
} from "./logStorage.ts";
import { entryBytes } from "./logRules.ts";

/** A run of entries with equal term starting at `start`. */
export interface TermRun {
  start: number;
  term: number;
}

/** In-memory mirror of one group's durable state. */
export interface GroupMeta {
  readonly gid: number;
  readonly name: GroupId;
  /** Whether the group row exists in the database. */
  persisted: boolean;
  dummyIndex: number;
  dummyTerm: number;
  lastIndex: number;
  hardState: HardState;
  snapMeta: SnapshotMetadata;
  /** Whether a snapshot row exists. */
  hasSnapshot: boolean;
  /** Terms of dummyIndex+1 ..= lastIndex, as runs (ascending `start`). */
  runs: TermRun[];
  /** Contiguous entries ending at lastIndex (possibly empty). */
  tail: Entry[];
  tailBytes: number;
}

/** CRC-32C of an entry row (group id, index, term, type, data). */
export function entryCrc(
  gid: number,
  index: number,
  term: number,
  type: number,
  data: Uint8Array,
): number {
  return rowCrc(gid, index, term, (c) => crc32cUpdateU32(c, type), data);
}

/** CRC-32C of (gid, index, term, what `middle` adds, data length, data). */
function rowCrc(
  gid: number,
  index: number,
  term: number,
  middle: (c: number) => number,
  data: Uint8Array,
): number {
  let c = crc32cUpdateU32(CRC32C_INIT, gid);
  c = crc32cUpdateUint(c, index);
  c = crc32cUpdateUint(c, term);
  c = middle(c);
  c = crc32cUpdateU32(c, data.length);
  return crc32cFinish(crc32cUpdate(c, data));
}

/** CRC-32C of a group row (all its fields). */
export function groupCrc(m: GroupMeta): number {
  let c = crc32cUpdateU32(CRC32C_INIT, m.gid);
  c = crc32cUpdateString(c, m.name);
  c = crc32cUpdateUint(c, m.dummyIndex);
  c = crc32cUpdateUint(c, m.dummyTerm);
  c = crc32cUpdateUint(c, m.lastIndex);
  c = crc32cUpdateUint(c, m.hardState.term);
  c = m.hardState.vote === null
    ? crc32cUpdateU32(c, 0)
    : crc32cUpdateString(crc32cUpdateU32(c, 1), m.hardState.vote);
  c = crc32cUpdateUint(c, m.hardState.commit);
  return crc32cFinish(c);
}

/** CRC-32C of a snapshot row (all its fields). */
export function snapshotCrc(
  gid: number,
  index: number,
  term: number,
  conf: string,
  data: Uint8Array,
): number {
  return rowCrc(gid, index, term, (c) => crc32cUpdateString(c, conf), data);
}

/** Whether an SQLite error message reports a damaged file. */
export function isCorruptionMessage(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return /malformed|not a database|corrupt|disk I\/O error|short read/i.test(msg);
}

/** Runs `fn`; rethrows SQLite corruption errors as StorageCorruptionError. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof StorageCorruptionError) && isCorruptionMessage(e)) {
      throw new StorageCorruptionError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
    throw e;
  }
}

/** Reads an integer column; a different type means corruption. */
export function num(row: Record<string, unknown>, col: string): number {
  const v = row[col];
  if (typeof v !== "number") {
    throw new StorageCorruptionError(`column ${col} is not a number: ${String(v)}`);
  }
  return v;
}

/** Reads a text column; a different type means corruption. */
export function str(row: Record<string, unknown>, col: string): string {
  const v = row[col];
  if (typeof v !== "string") {
    throw new StorageCorruptionError(`column ${col} is not text: ${String(v)}`);
  }
  return v;
}

/** Reads a blob column; a different type means corruption. */
export function bytes(row: Record<string, unknown>, col: string): Uint8Array {
  const v = row[col];
  if (!(v instanceof Uint8Array)) throw new StorageCorruptionError(`column ${col} is not a blob`);
  return v;
}

/** Parses a stored configuration, validating every field. */
export function parseConfState(text: string, where: string): ConfState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StorageCorruptionError(`${where}: configuration is not JSON`);
  }
  const isIds = (x: unknown): x is string[] =>
    Array.isArray(x) && x.every((s) => typeof s === "string");
  if (typeof v !== "object" || v === null) {
    throw new StorageCorruptionError(`${where}: bad configuration`);
  }
  const o = v as Record<string, unknown>;
  if (
    !isIds(o.voters) || !isIds(o.learners) || !isIds(o.votersOutgoing) || !isIds(o.learnersNext) ||
    typeof o.autoLeave !== "boolean"
  ) {
    throw new StorageCorruptionError(`${where}: bad configuration fields`);
  }
  return {
    voters: o.voters,
    learners: o.learners,
    votersOutgoing: o.votersOutgoing,
    learnersNext: o.learnersNext,
    autoLeave: o.autoLeave,
  };
}

/** Serializes a configuration (stable field order). */
export function serializeConfState(c: ConfState): string {
  return JSON.stringify({
    voters: c.voters,
    learners: c.learners,
    votersOutgoing: c.votersOutgoing,
    learnersNext: c.learnersNext,
    autoLeave: c.autoLeave,
  });
}

/** Term of `index` from the in-memory runs; throws Compacted/UnavailableError. */
export function termOf(m: GroupMeta, index: number): number {
  if (index < m.dummyIndex) throw new CompactedError(index, m.dummyIndex + 1);
  if (index === m.dummyIndex) return m.dummyTerm;
  if (index > m.lastIndex) throw new UnavailableError(index, m.lastIndex);
  const runs = m.runs;
  let lo = 0;
  let hi = runs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (runs[mid].start <= index) lo = mid;
    else hi = mid - 1;
  }
  return runs[lo].term;
}

/** Drops runs and tail entries at or after `from`. */
export function truncateFrom(m: GroupMeta, from: number): void {
  while (m.runs.length > 0 && m.runs[m.runs.length - 1].start >= from) m.runs.pop();
  while (m.tail.length > 0 && m.tail[m.tail.length - 1].index >= from) {
    m.tailBytes -= entryBytes(m.tail.pop()!);
  }
  m.lastIndex = Math.min(m.lastIndex, from - 1);
}

/** Drops runs and tail entries at or before `to`. */
export function discardUpTo(m: GroupMeta, to: number): void {
  let k = 0;
  while (k < m.runs.length && m.runs[k].start <= to) k++;
  // The run before k covers `to`; keep it from to+1 if it extends past `to`.
  const next = k < m.runs.length ? m.runs[k].start : m.lastIndex + 1;
  const keep = k > 0 && next > to + 1 ? [{ start: to + 1, term: m.runs[k - 1].term }] : [];
  m.runs = keep.concat(m.runs.slice(k));
  let t = 0;
  while (t < m.tail.length && m.tail[t].index <= to) {
    m.tailBytes -= entryBytes(m.tail[t]);
    t++;
  }
  if (t > 0) m.tail = m.tail.slice(t);
}
