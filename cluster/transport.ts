/**
 * The node-to-node transport contract shared by the TCP and in-memory
 * implementations: one-way messages and request/response RPC on named channels
 * (membership, Raft and other services share one connection per peer).
 *
 * @module
 */

/** Receives a one-way message from an authenticated peer. */
export type MessageHandler = (from: string, payload: Uint8Array) => void;

/** Serves a request from an authenticated peer; a thrown error is sent back as a {@link RemoteError}. */
export type RequestHandler = (
  from: string,
  payload: Uint8Array,
) => Promise<Uint8Array> | Uint8Array;

/** Node-to-node transport. Peers are named by their cluster endpoint `HOST:PORT`. */
export interface Transport {
  /** This node's cluster endpoint `HOST:PORT`. */
  readonly localId: string;
  /**
   * Queues a one-way message (best effort: dropped if the peer cannot be reached).
   * Returns false when the peer's bounded send queue is full (backpressure): the
   * message was not queued.
   */
  send(peer: string, channel: string, payload: Uint8Array): boolean;
  /** Registers the handler of one-way messages on `channel` (one per channel). */
  onMessage(channel: string, handler: MessageHandler): void;
  /**
   * Sends a request and resolves with the response payload. Rejects with
   * {@link RequestTimeoutError}, {@link PeerUnavailableError}, {@link QueueFullError}
   * or {@link RemoteError}.
   */
  request(
    peer: string,
    channel: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array>;
  /** Registers the request handler of `channel` (one per channel). */
  onRequest(channel: string, handler: RequestHandler): void;
  /**
   * Forgets the reconnect back-off towards `peer` (membership learned it is back), so
   * the next message dials at once instead of waiting out a back-off built while it
   * was down.
   */
  resetReconnectBackoff(peer: string): void;
  /** Called when the last connection to a peer is lost or a dial to it fails. */
  onPeerUnreachable(callback: (peer: string) => void): void;
  /** Closes every connection and the listener; pending requests are rejected. */
  close(): Promise<void>;
}

/** A request got no response within its timeout. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
  constructor(peer: string, channel: string, timeoutMs: number) {
    super(`request to ${peer} on channel "${channel}" timed out after ${timeoutMs} ms`);
  }
}

/** The peer could not be reached, or its connection was lost before the response. */
export class PeerUnavailableError extends Error {
  override name = "PeerUnavailableError";
  constructor(peer: string, reason: string) {
    super(`peer ${peer} unavailable: ${reason}`);
  }
}

/** The per-peer send queue or in-flight request window is full (backpressure). */
export class QueueFullError extends Error {
  override name = "QueueFullError";
  constructor(peer: string, what: string) {
    super(`${what} towards ${peer} is full`);
  }
}

/** The peer's handler failed (or had no handler for the channel). */
export class RemoteError extends Error {
  override name = "RemoteError";
  constructor(peer: string, message: string) {
    super(`peer ${peer} answered with an error: ${message}`);
  }
}

/** Whether `id` looks like a cluster endpoint `HOST:PORT`. */
export function isEndpoint(id: string): boolean {
  const i = id.lastIndexOf(":");
  if (i <= 0 || id.length > 300) return false;
  const port = Number(id.slice(i + 1));
  return Number.isInteger(port) && port > 0 && port < 65536;
}

/** Splits `HOST:PORT`. */
export function parseEndpoint(id: string): { host: string; port: number } {
  if (!isEndpoint(id)) throw new RangeError(`invalid endpoint "${id}", expected HOST:PORT`);
  const i = id.lastIndexOf(":");
  return { host: id.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(id.slice(i + 1)) };
}
