/**
 * The replicated key-value state machine of the simulator and the encoding of
 * its commands in log entries.
 *
 * @module
 */

/** A client command carried in a log entry. */
export interface KvCommand {
  /** Client id and per-client sequence number: identify the request. */
  readonly client: number;
  readonly seq: number;
  readonly op: "put" | "append" | "get";
  readonly key: string;
  readonly value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a command as entry data. */
export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify([c.client, c.seq, c.op, c.key, c.value]));
}

/** Decodes entry data written by {@link encodeCommand}; throws on anything else. */
export function decodeCommand(data: Uint8Array): KvCommand {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (
    !Array.isArray(v) || v.length !== 5 || typeof v[0] !== "number" || typeof v[1] !== "number" ||
    (v[2] !== "put" && v[2] !== "append" && v[2] !== "get") || typeof v[3] !== "string" ||
    typeof v[4] !== "string"
  ) {
    throw new Error(`sim kv: malformed command ${decoder.decode(data)}`);
  }
  return { client: v[0], seq: v[1], op: v[2], key: v[3], value: v[4] };
}

/** Result of applying a command. */
export interface KvApplyResult {
  /** False for a duplicate of a command already applied (no effect). */
  readonly applied: boolean;
  /** The value read (get), or null. */
  readonly value: string | null;
}

/**
 * A string key-value map (absent keys read as ""), with at-most-once
 * application per client: a command whose sequence number is not above the
 * client's last applied one is a duplicate (a proposal re-delivered by the
 * network or retried) and has no effect.
 */
export class KvStateMachine {
  #data = new Map<string, string>();
  #lastSeq = new Map<number, number>();

  /** Applies a command unless it is a duplicate. */
  apply(c: KvCommand): KvApplyResult {
    if ((this.#lastSeq.get(c.client) ?? 0) >= c.seq) return { applied: false, value: null };
    this.#lastSeq.set(c.client, c.seq);
    switch (c.op) {
      case "get":
        return { applied: true, value: this.get(c.key) };
      case "put":
        this.#data.set(c.key, c.value);
        return { applied: true, value: null };
      case "append":
        this.#data.set(c.key, this.get(c.key) + c.value);
        return { applied: true, value: null };
    }
  }

  /** Reads a key. */
  get(key: string): string {
    return this.#data.get(key) ?? "";
  }

  /** Serializes the whole state (canonical: sorted keys and clients). */
  snapshot(): Uint8Array {
    const data = [...this.#data].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const seqs = [...this.#lastSeq].sort((a, b) => a[0] - b[0]);
    return encoder.encode(JSON.stringify({ data, seqs }));
  }

  /** Replaces the state with a snapshot produced by {@link snapshot} (empty: initial state). */
  restore(bytes: Uint8Array): void {
    this.#data = new Map();
    this.#lastSeq = new Map();
    if (bytes.length === 0) return;
    const v: unknown = JSON.parse(decoder.decode(bytes));
    if (typeof v !== "object" || v === null) throw new Error("sim kv: malformed snapshot");
    const { data, seqs } = v as { data?: unknown; seqs?: unknown };
    if (!Array.isArray(data) || !Array.isArray(seqs)) throw new Error("sim kv: malformed snapshot");
    for (const pair of data) {
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        throw new Error("sim kv: malformed snapshot pair");
      }
      this.#data.set(pair[0], pair[1]);
    }
    for (const pair of seqs) {
      if (!Array.isArray(pair) || typeof pair[0] !== "number" || typeof pair[1] !== "number") {
        throw new Error("sim kv: malformed snapshot sequence");
      }
      this.#lastSeq.set(pair[0], pair[1]);
    }
  }
}
