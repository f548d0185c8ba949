/**
 * The single-node {@link SessionRegistry}: ownership in a Map. Ownership dies
 * with the process, so nothing is persisted; incarnations come from one
 * counter, which keeps them monotonic per key without remembering released keys.
 *
 * @module
 */
import type { ClientKey } from "../message.ts";
import { StoreClosedError } from "../sqlite/database.ts";
import type { KickListener, SessionOwner, SessionRegistry } from "./sessionRegistry.ts";

/** Options of {@link LocalSessionRegistry}. */
export interface LocalSessionRegistryOptions {
  /**
   * Called when a kick listener throws (the claim still succeeds and the other
   * listeners still run). Default: `console.error`.
   */
  readonly onListenerError?: (err: unknown, key: ClientKey) => void;
  /**
   * First incarnation handed out. A process restart loses the counter; pass
   * e.g. the start time in ms so that incarnations stay increasing across
   * restarts of this node. Default 1.
   */
  readonly firstIncarnation?: number;
}

function keyString(key: ClientKey): string {
  return `${key.tenant}\u0000${key.clientId}`;
}

/** In-memory, single-node session registry; see the module docs. */
export class LocalSessionRegistry implements SessionRegistry {
  readonly #owners = new Map<string, SessionOwner>();
  readonly #listeners = new Set<KickListener>();
  readonly #onListenerError: (err: unknown, key: ClientKey) => void;
  #nextIncarnation: number;
  #closed = false;

  /** Creates the instance; see the class docs for the options. */
  constructor(options: LocalSessionRegistryOptions = {}) {
    const first = options.firstIncarnation ?? 1;
    if (!Number.isSafeInteger(first) || first < 1) {
      throw new RangeError(`firstIncarnation must be a positive integer, got ${first}`);
    }
    this.#nextIncarnation = first;
    this.#onListenerError = options.onListenerError ??
      ((err, key) =>
        console.error(
          `session kick listener failed for client ${JSON.stringify(key.clientId)} of tenant ${
            JSON.stringify(key.tenant)
          }:`,
          err,
        ));
  }

  /** Number of client ids currently owned. */
  get size(): number {
    return this.#owners.size;
  }

  /**
   * Makes the connection the owner. A claim by the connection that already
   * owns the key renews its incarnation without displacing (or kicking) anyone.
   */
  claim(
    key: ClientKey,
    nodeId: string,
    connectionId: number,
  ): Promise<{ owner: SessionOwner; displaced: SessionOwner | null }> {
    if (this.#closed) return Promise.reject(new StoreClosedError("session registry"));
    if (typeof nodeId !== "string" || nodeId.length === 0) {
      return Promise.reject(
        new RangeError(`nodeId must be a non-empty string, got ${JSON.stringify(nodeId)}`),
      );
    }
    if (!Number.isSafeInteger(connectionId)) {
      return Promise.reject(new RangeError(`connectionId must be an integer, got ${connectionId}`));
    }
    const k = keyString(key);
    const previous = this.#owners.get(k) ?? null;
    const owner: SessionOwner = { nodeId, connectionId, incarnation: this.#nextIncarnation++ };
    this.#owners.set(k, owner);
    const same = previous !== null && previous.nodeId === nodeId &&
      previous.connectionId === connectionId;
    const displaced = same ? null : previous;
    if (displaced !== null) {
      const keyCopy = { tenant: key.tenant, clientId: key.clientId };
      for (const listener of [...this.#listeners]) {
        try {
          listener(keyCopy, displaced, owner);
        } catch (err) {
          this.#onListenerError(err, keyCopy);
        }
      }
    }
    return Promise.resolve({ owner, displaced });
  }

  release(key: ClientKey, owner: SessionOwner): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreClosedError("session registry"));
    const k = keyString(key);
    const current = this.#owners.get(k);
    if (
      current !== undefined && current.incarnation === owner.incarnation &&
      current.nodeId === owner.nodeId && current.connectionId === owner.connectionId
    ) {
      this.#owners.delete(k);
    }
    return Promise.resolve();
  }

  owner(key: ClientKey): Promise<SessionOwner | null> {
    if (this.#closed) return Promise.reject(new StoreClosedError("session registry"));
    return Promise.resolve(this.#owners.get(keyString(key)) ?? null);
  }

  onKick(listener: KickListener): () => void {
    // Wrap so that registering the same function twice gives two independent registrations.
    const entry: KickListener = (k, d, b) => listener(k, d, b);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Releases what the instance holds; further calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    this.#owners.clear();
    this.#listeners.clear();
    return Promise.resolve();
  }
}
