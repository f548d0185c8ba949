/**
 * Validation of Raft messages decoded from the wire (msgpack → unknown). A
 * peer's bytes are untrusted: a malformed message is rejected here with a
 * named error instead of reaching the core.
 *
 * @module
 */

import { type Entry, EntryType } from "../storage/logStorage.ts";
import { type Message, MessageType, type SnapshotChunk } from "./types.ts";

/** A message from a peer is malformed; drop it (and log), never crash. */
export class InvalidMessageError extends Error {
  constructor(readonly field: string, readonly value: unknown) {
    super(`invalid raft message: ${field} = ${describe(value)}`);
    this.name = "InvalidMessageError";
  }
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `Uint8Array(${v.byteLength})`;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 80)}…` : s;
  } catch {
    return String(v);
  }
}

const TYPES: ReadonlySet<unknown> = new Set(Object.values(MessageType));
const ENTRY_TYPES: ReadonlySet<unknown> = new Set(Object.values(EntryType));

function record(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InvalidMessageError(field, v);
  }
  return v as Record<string, unknown>;
}

function nat(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidMessageError(field, v);
  }
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string") throw new InvalidMessageError(field, v);
  return v;
}

function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new InvalidMessageError(field, v);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) throw new InvalidMessageError(field, v);
  return v.map((x, i) => str(x, `${field}[${i}]`));
}

function parseEntry(v: unknown, field: string): Entry {
  const r = record(v, field);
  if (!ENTRY_TYPES.has(r.type)) throw new InvalidMessageError(`${field}.type`, r.type);
  return {
    term: nat(r.term, `${field}.term`),
    index: nat(r.index, `${field}.index`),
    type: r.type as EntryType,
    data: bytes(r.data, `${field}.data`),
  };
}

function parseChunk(v: unknown): SnapshotChunk {
  const r = record(v, "snapshot");
  const md = record(r.metadata, "snapshot.metadata");
  const cs = record(md.confState, "snapshot.metadata.confState");
  if (typeof cs.autoLeave !== "boolean") {
    throw new InvalidMessageError("snapshot.metadata.confState.autoLeave", cs.autoLeave);
  }
  const chunk: SnapshotChunk = {
    metadata: {
      index: nat(md.index, "snapshot.metadata.index"),
      term: nat(md.term, "snapshot.metadata.term"),
      confState: {
        voters: strList(cs.voters, "snapshot.metadata.confState.voters"),
        learners: strList(cs.learners, "snapshot.metadata.confState.learners"),
        votersOutgoing: strList(cs.votersOutgoing, "snapshot.metadata.confState.votersOutgoing"),
        learnersNext: strList(cs.learnersNext, "snapshot.metadata.confState.learnersNext"),
        autoLeave: cs.autoLeave,
      },
    },
    offset: nat(r.offset, "snapshot.offset"),
    totalBytes: nat(r.totalBytes, "snapshot.totalBytes"),
    data: bytes(r.data, "snapshot.data"),
  };
  if (chunk.offset + chunk.data.byteLength > chunk.totalBytes) {
    throw new InvalidMessageError("snapshot.offset", chunk.offset);
  }
  return chunk;
}

/**
 * Checks a decoded value and returns it as a Message, or throws
 * InvalidMessageError naming the first bad field. Entries of a MsgApp must be
 * contiguous and follow `index`.
 */
export function parseMessage(v: unknown): Message {
  const r = record(v, "message");
  if (!TYPES.has(r.type)) throw new InvalidMessageError("type", r.type);
  if (!Array.isArray(r.entries)) throw new InvalidMessageError("entries", r.entries);
  const entries = r.entries.map((e, i) => parseEntry(e, `entries[${i}]`));
  const m: Message = {
    type: r.type as MessageType,
    from: str(r.from, "from"),
    to: str(r.to, "to"),
    term: nat(r.term, "term"),
    logTerm: nat(r.logTerm, "logTerm"),
    index: nat(r.index, "index"),
    entries,
    commit: nat(r.commit, "commit"),
    reject: typeof r.reject === "boolean" ? r.reject : (() => {
      throw new InvalidMessageError("reject", r.reject);
    })(),
    rejectHint: nat(r.rejectHint, "rejectHint"),
    rejectHintTerm: nat(r.rejectHintTerm, "rejectHintTerm"),
    context: r.context === null || r.context === undefined ? null : bytes(r.context, "context"),
    snapshot: r.snapshot === null || r.snapshot === undefined ? null : parseChunk(r.snapshot),
  };
  if (m.type === MessageType.App) {
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].index !== m.index + 1 + i || entries[i].term > m.term) {
        throw new InvalidMessageError(`entries[${i}].index`, entries[i].index);
      }
    }
  }
  if (m.type === MessageType.Snap && m.snapshot === null) {
    throw new InvalidMessageError("snapshot", null);
  }
  return m;
}
