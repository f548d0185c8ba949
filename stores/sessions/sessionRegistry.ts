/**
 * sessions: at most one live connection per (tenant, client id) in the whole
 * cluster. Single node: an in-memory implementation (ownership dies with the
 * process, so there is nothing to persist); cluster: replicated later, same
 * suite (`sessionRegistry.case.ts`).
 *
 * @module
 */
import type { ClientKey } from "../message.ts";

/** The connection that currently owns a client id. */
export interface SessionOwner {
  readonly nodeId: string;
  /** Connection id, unique on its node. */
  readonly connectionId: number;
  /** Monotonic per client key: bumps on every successful claim. */
  readonly incarnation: number;
}

/** Called on the node of a displaced owner so it can disconnect it (v5 reason 0x8E). */
export type KickListener = (key: ClientKey, displaced: SessionOwner, by: SessionOwner) => void;

/** Cluster-wide client-id ownership. */
export interface SessionRegistry {
  /**
   * Makes (nodeId, connectionId) the owner of `key`, displacing any other
   * owner (whose node's kick listeners fire). Resolves with the new owner
   * (with its incarnation) and the displaced one, if any.
   */
  claim(
    key: ClientKey,
    nodeId: string,
    connectionId: number,
  ): Promise<{ owner: SessionOwner; displaced: SessionOwner | null }>;
  /** Releases `key` if `owner` still holds it (same incarnation); no-op otherwise. */
  release(key: ClientKey, owner: SessionOwner): Promise<void>;
  /** Current owner, or null. */
  owner(key: ClientKey): Promise<SessionOwner | null>;
  /** Registers a listener for owners displaced on this node. Returns an unsubscribe function. */
  onKick(listener: KickListener): () => void;
  close(): Promise<void>;
}
