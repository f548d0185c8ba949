/**
 * The simulator's client workload: clients with one request in flight each,
 * against the replicated KV store, and the history they observe (checked for
 * linearizability at the end of a run).
 *
 * @module
 */

import { NotLeaderError, ProposalDroppedError } from "../core/errors.ts";
import type { RawNode } from "../core/rawNode.ts";
import type { ReplicaId } from "../storage/logStorage.ts";
import { encodeCommand, type KvCommand } from "./kv.ts";
import type { KvInput, KvOperation } from "./linearizability.ts";
import type { Rng } from "./rng.ts";

/** What a client needs to know about a replica. */
export interface ClientTarget {
  readonly id: ReplicaId;
  readonly raw: RawNode | null;
  readonly isLeader: boolean;
}

/** Shape of the workload. */
export interface WorkloadParams {
  readonly clients: number;
  /** Keys are k0 … k(keys−1). */
  readonly keys: number;
  /** Ticks a client waits for an answer before giving up (outcome unknown). */
  readonly opTimeoutTicks: number;
  /** Deliberate bug: acknowledge writes when the leader appends them. */
  readonly ackBeforeCommit: boolean;
}

/** Counters the workload maintains. */
export interface WorkloadStats {
  opsCompleted: number;
  readIndexReads: number;
  opsUnknown: number;
}

/** A client request in progress. */
interface PendingOp {
  readonly client: number;
  readonly seq: number;
  readonly input: KvInput;
  readonly callTick: number;
  /** Replica the client talks to. */
  readonly replica: ReplicaId;
  /** "log": waits for the command to be applied; "read": waits for a read index. */
  readonly path: "log" | "read";
  /** Read path: the read index once known. */
  readIndex: number | null;
}

function ctxOf(client: number, seq: number): Uint8Array {
  return new TextEncoder().encode(`read:${client}:${seq}`);
}

/** Clients, their requests in flight and the history they observed. */
export class ClientWorkload {
  readonly #seq: number[] = [];
  readonly #hint: (ReplicaId | null)[] = [];
  readonly #idleUntil: number[] = [];
  readonly #pending = new Map<number, PendingOp>();
  /** Requests that ended without an answer: resolved from `#firstApply` at the end. */
  readonly #unanswered: PendingOp[] = [];
  readonly #history: KvOperation[] = [];
  /** "client/seq" → tick and result of the first apply anywhere. */
  readonly #firstApply = new Map<string, { tick: number; result: string | null; index: number }>();

  constructor(
    private readonly rng: Rng,
    private readonly params: WorkloadParams,
    private readonly stats: WorkloadStats,
    private readonly trace: ((line: string) => void) | null,
  ) {
    for (let c = 0; c < params.clients; c++) {
      this.#seq.push(0);
      this.#hint.push(null);
      this.#idleUntil.push(0);
    }
  }

  /** Requests in flight. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Lets every idle client issue its next request. */
  issue(
    now: number,
    live: readonly ClientTarget[],
    byId: (id: ReplicaId) => ClientTarget | undefined,
  ): void {
    for (let c = 0; c < this.params.clients; c++) this.#issueOne(c, now, live, byId);
  }

  #issueOne(
    c: number,
    now: number,
    live: readonly ClientTarget[],
    byId: (id: ReplicaId) => ClientTarget | undefined,
  ): void {
    if (this.#pending.has(c) || now < this.#idleUntil[c]) return;
    if (live.length === 0) return;
    const hint = this.#hint[c];
    const target = (hint !== null ? byId(hint) : undefined) ?? this.rng.pick(live);
    if (target.raw === null) {
      this.#hint[c] = null;
      return;
    }
    const seq = ++this.#seq[c];
    const key = `k${this.rng.int(this.params.keys)}`;
    const roll = this.rng.int(100);
    const input: KvInput = roll < 35
      ? { op: "put", key, value: `${c}.${seq}` }
      : roll < 60
      ? { op: "append", key, value: `${c}.${seq};` }
      : { op: "get", key };
    const path = input.op === "get" && this.rng.chance(0.5) ? "read" : "log";
    const op: PendingOp = {
      client: c,
      seq,
      input,
      callTick: now,
      replica: target.id,
      path,
      readIndex: null,
    };
    try {
      if (path === "read") {
        target.raw.readIndex(ctxOf(c, seq));
      } else {
        const cmd: KvCommand = {
          client: c,
          seq,
          op: input.op,
          key,
          value: input.op === "get" ? "" : input.value,
        };
        target.raw.propose(encodeCommand(cmd));
      }
    } catch (e) {
      if (e instanceof NotLeaderError) {
        this.#hint[c] = e.leaderHint;
        return;
      }
      if (e instanceof ProposalDroppedError) {
        this.#hint[c] = null;
        return;
      }
      throw e;
    }
    this.#pending.set(c, op);
    if (this.params.ackBeforeCommit && input.op !== "get" && target.isLeader) {
      this.#complete(c, op, null, now);
    }
  }

  /**
   * Replica `replicaId` applied command `cmd` (not a duplicate) at log
   * `index` with result `value`.
   */
  onApplied(
    replicaId: ReplicaId,
    cmd: KvCommand,
    index: number,
    value: string | null,
    now: number,
  ): void {
    const key = `${cmd.client}/${cmd.seq}`;
    if (!this.#firstApply.has(key)) this.#firstApply.set(key, { tick: now, result: value, index });
    const op = this.#pending.get(cmd.client);
    if (op !== undefined && op.seq === cmd.seq && op.path === "log" && op.replica === replicaId) {
      this.#complete(cmd.client, op, value, now, index);
    }
  }

  /** A read index arrived on `replicaId`. */
  onReadState(replicaId: ReplicaId, index: number, ctx: Uint8Array): void {
    const m = /^read:(\d+):(\d+)$/.exec(new TextDecoder().decode(ctx));
    if (m === null) return;
    const op = this.#pending.get(Number(m[1]));
    if (
      op === undefined || op.seq !== Number(m[2]) || op.replica !== replicaId || op.path !== "read"
    ) {
      return;
    }
    op.readIndex = index;
  }

  /** Answers the read-index requests on `replicaId` whose index is applied. */
  answerReads(
    replicaId: ReplicaId,
    applied: number,
    read: (key: string) => string,
    now: number,
  ): void {
    for (const [c, op] of this.#pending) {
      if (
        op.path === "read" && op.replica === replicaId && op.readIndex !== null &&
        applied >= op.readIndex
      ) {
        this.stats.readIndexReads++;
        // It observes the state after `applied` entries: a hint for the checker.
        this.#complete(c, op, read(op.input.key), now, applied + 0.5);
      }
    }
  }

  /** Clients talking to a crashed replica give up. */
  onCrash(replicaId: ReplicaId, now: number): void {
    for (const [c, op] of this.#pending) {
      if (op.replica === replicaId) this.#giveUp(c, op, "replica crashed", now);
    }
  }

  /** Clients waiting longer than the timeout give up. */
  expire(now: number): void {
    for (const [c, op] of this.#pending) {
      if (now - op.callTick > this.params.opTimeoutTicks) this.#giveUp(c, op, "timed out", now);
    }
  }

  /** Every client still waiting gives up (end of the run). */
  giveUpAll(now: number): void {
    for (const [c, op] of this.#pending) this.#giveUp(c, op, "run ended", now);
  }

  #complete(c: number, op: PendingOp, value: string | null, now: number, order?: number): void {
    this.#pending.delete(c);
    this.#hint[c] = op.replica;
    this.#idleUntil[c] = now + this.rng.int(4);
    this.#history.push({
      clientId: c,
      input: op.input,
      callTime: op.callTick,
      output: { value: op.input.op === "get" ? value : null },
      returnTime: now,
      ...(order !== undefined ? { order } : {}),
    });
    this.stats.opsCompleted++;
  }

  #giveUp(c: number, op: PendingOp, why: string, now: number): void {
    this.#pending.delete(c);
    this.#hint[c] = null;
    this.#idleUntil[c] = now + this.rng.int(4);
    this.#unanswered.push(op);
    this.stats.opsUnknown++;
    this.trace?.(`client ${c} gives up on #${op.seq} at ${op.replica}: ${why}`);
  }

  /**
   * The history to check. A request that got no answer but was applied
   * somewhere took effect no later than its first apply; one never applied
   * anywhere influenced no output and is left out (equivalent to an
   * outcome-unknown write linearized after everything).
   */
  history(): KvOperation[] {
    const history = this.#history.slice();
    for (const op of this.#unanswered) {
      const first = this.#firstApply.get(`${op.client}/${op.seq}`);
      if (op.path !== "log" || first === undefined) continue;
      history.push({
        clientId: op.client,
        input: op.input,
        callTime: op.callTick,
        output: { value: op.input.op === "get" ? first.result : null },
        returnTime: Math.max(first.tick, op.callTick),
        order: first.index,
      });
    }
    return history;
  }
}
