/**
 * dist: the subscription routes and topic matching. The local implementation
 * keeps routes in SQLite and an in-memory trie; the replicated one (base-kv)
 * must pass the same test suite (`distStore.case.ts`).
 *
 * @module
 */
import type { SubscriptionOptions } from "../message.ts";

/**
 * Who receives a route's messages:
 * - `s:<nodeId>:<sessionId>` a transient (clean) session connected to node `nodeId`;
 * - `i:<tenant>\u0000<clientId>` the inbox of a persistent session.
 * Built with {@link transientReceiverId} / {@link inboxReceiverId}.
 */
export type ReceiverId = string;

/** Receiver id of a transient session on a node. */
export function transientReceiverId(nodeId: string, sessionId: string): ReceiverId {
  return `s:${nodeId}:${sessionId}`;
}

/** Receiver id of a persistent session's inbox. */
export function inboxReceiverId(tenant: string, clientId: string): ReceiverId {
  return `i:${tenant}\u0000${clientId}`;
}

/** The identity of a route: one receiver's subscription to one filter. */
export interface RouteKey {
  readonly tenant: string;
  /** The topic filter without any `$share/{group}/` prefix. */
  readonly filter: string;
  /** Shared-subscription group, or null for a normal subscription. */
  readonly shareGroup: string | null;
  readonly receiverId: ReceiverId;
}

/** A route: key plus the subscription's options and the receiver's incarnation. */
export interface Route extends RouteKey {
  readonly options: SubscriptionOptions;
  /**
   * Incarnation of the receiving session; a removal carrying an older
   * incarnation does not remove a newer route (session taken over meanwhile).
   */
  readonly incarnation: number;
}

/** Routes matching one topic. */
export interface MatchResult {
  /** Normal subscriptions; a receiver may appear several times (overlapping filters). */
  readonly normal: readonly Route[];
  /** Shared subscriptions, grouped by `${shareGroup}\u0000${filter}`; deliver to one member each. */
  readonly shared: ReadonlyMap<string, readonly Route[]>;
}

/** Key removal with the incarnation guard. */
export interface RouteRemoval extends RouteKey {
  /** Remove only if the stored route's incarnation is <= this. */
  readonly incarnation: number;
}

/** Subscription routes of all tenants. */
export interface DistStore {
  /**
   * Adds or replaces routes (same key). {@link match} sees them as soon as this
   * is called (a subscription is in force once its SUBSCRIBE is handled); if
   * the write then fails they are taken back and the promise rejects. Resolves
   * once durable (committed): a SUBACK waits for it.
   */
  addRoutes(routes: readonly Route[]): Promise<void>;
  /**
   * Removes routes (guarded by incarnation); {@link match} stops returning them
   * as soon as this is called (restored if the write fails). Resolves once durable.
   */
  removeRoutes(removals: readonly RouteRemoval[]): Promise<void>;
  /** Removes every route whose receiver is a transient session on `nodeId` (node restart/death). */
  removeTransientRoutesOfNode(nodeId: string): Promise<number>;
  /**
   * Routes whose filter matches `topic` in `tenant`. Local and synchronous
   * (in-memory trie); reflects every add/remove called, committed or pending
   * (see {@link addRoutes}), and every committed removal of a node's transient
   * routes. Topics starting with `$` are not matched by filters starting
   * with a wildcard.
   */
  match(tenant: string, topic: string): MatchResult;
  /** Number of routes stored (all tenants). */
  routeCount(): number;
  close(): Promise<void>;
}
