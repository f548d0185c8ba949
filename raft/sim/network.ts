/**
 * The simulator's fake network: messages in flight with a delivery tick;
 * drop, duplicate and delay (hence reorder) with seeded probabilities; links
 * cut per direction (symmetric and asymmetric partitions) and healed.
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";
import type { Message } from "../core/types.ts";
import type { Rng } from "./rng.ts";

/** Fault rates of the network (probabilities per message). */
export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice (the copy with its own delay). */
  duplicateRate: number;
  /** Smallest delay in ticks (≥ 1: a reply never arrives in the tick it was caused). */
  minDelayTicks: number;
  /** Largest delay in ticks; wider spreads reorder more. */
  maxDelayTicks: number;
}

/** A message with its delivery time. */
export interface InFlight {
  readonly deliverAt: number;
  /** Sequence number: ties in delivery time go in send order. */
  readonly seq: number;
  readonly msg: Message;
}

/** Outcome of sending one message, for snapshot-status reporting. */
export type SendOutcome = "queued" | "dropped" | "cut";

/**
 * Copies a message as serialization would, so that no object is shared
 * between sender and receiver (byte payloads are immutable by contract and
 * are shared; structuredClone costs a third of a simulation run).
 */
export function copyMessage(m: Message): Message {
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e })),
    context: m.context === null ? null : m.context.slice(),
    snapshot: m.snapshot === null ? null : {
      ...m.snapshot,
      metadata: structuredClone(m.snapshot.metadata),
    },
  };
}

/** Fake network between the simulated replicas. */
export class SimNetwork {
  #queue: InFlight[] = [];
  #seq = 0;
  /** Directed links that are cut, as "from>to". */
  readonly #cut = new Set<string>();
  /** Messages dropped because the in-flight bound was reached. */
  overflowDrops = 0;
  sent = 0;
  dropped = 0;
  duplicated = 0;

  /**
   * @param maxInFlight bound of queued messages; beyond it new messages are
   *   dropped (a full socket buffer) and counted in `overflowDrops`.
   */
  constructor(
    private readonly rng: Rng,
    public faults: NetworkFaults,
    private readonly maxInFlight = 20_000,
  ) {}

  /** Queues `msg` sent at tick `now`; copies it (as serialization would). */
  send(now: number, msg: Message): SendOutcome {
    this.sent++;
    if (this.#cut.has(`${msg.from}>${msg.to}`)) return "cut";
    if (this.rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return "dropped";
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      if (this.#queue.length >= this.maxInFlight) {
        this.overflowDrops++;
        return "dropped";
      }
      const delay = this.rng.range(this.faults.minDelayTicks, this.faults.maxDelayTicks);
      this.#queue.push({ deliverAt: now + delay, seq: this.#seq++, msg: copyMessage(msg) });
    }
    return "queued";
  }

  /**
   * Removes and returns the messages due at or before `now`, in delivery
   * order. A link cut while a message was in flight drops it.
   */
  due(now: number): Message[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const m of this.#queue) (m.deliverAt <= now ? ready : rest).push(m);
    this.#queue = rest;
    ready.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
    return ready.filter((m) => !this.#cut.has(`${m.msg.from}>${m.msg.to}`)).map((m) => m.msg);
  }

  /** Cuts the link from → to (one direction). */
  cut(from: ReplicaId, to: ReplicaId): void {
    this.#cut.add(`${from}>${to}`);
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  partition(a: readonly ReplicaId[], b: readonly ReplicaId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  /** Restores every link. */
  healAll(): void {
    this.#cut.clear();
  }

  /** Whether the link from → to is cut. */
  isCut(from: ReplicaId, to: ReplicaId): boolean {
    return this.#cut.has(`${from}>${to}`);
  }

  /** Cut links, sorted, for traces. */
  cutLinks(): string[] {
    return [...this.#cut].sort();
  }

  /** Messages in flight. */
  get inFlight(): number {
    return this.#queue.length;
  }
}
