/**
 * In-memory {@link Transport} for tests: every node of a {@link MemoryNetwork}
 * reaches the others by id, with the same admission rule as TCP (same env, same
 * secret) and asynchronous delivery. Links can be cut to simulate partitions.
 *
 * @module
 */

import { type Logger, silentLogger } from "../log/jsonLog.ts";
import {
  type MessageHandler,
  PeerUnavailableError,
  RemoteError,
  type RequestHandler,
  RequestTimeoutError,
  type Transport,
} from "./transport.ts";

/** Options of {@link MemoryNetwork.connect}. */
export interface MemoryTransportOptions {
  id: string;
  env: string;
  secret: string;
  log?: Logger;
}

/** A set of in-memory transports that can reach each other. */
export class MemoryNetwork {
  readonly #nodes = new Map<string, MemoryTransport>();
  readonly #cut = new Set<string>();

  /** Creates (registers) a transport; the id must be free. */
  connect(options: MemoryTransportOptions): MemoryTransport {
    const existing = this.#nodes.get(options.id);
    if (existing !== undefined && !existing.closed) {
      throw new Error(`memory transport ${options.id} already exists`);
    }
    const t = new MemoryTransport(this, options);
    this.#nodes.set(options.id, t);
    return t;
  }

  /** Cuts (or restores) the link between `a` and `b`, both directions. */
  setLink(a: string, b: string, up: boolean): void {
    for (const key of [`${a}|${b}`, `${b}|${a}`]) {
      if (up) this.#cut.delete(key);
      else this.#cut.add(key);
    }
  }

  /** @internal The peer a packet from `from` can reach, if admitted. */
  route(from: MemoryTransport, to: string): MemoryTransport | undefined {
    if (this.#cut.has(`${from.localId}|${to}`)) return undefined;
    const peer = this.#nodes.get(to);
    if (peer === undefined || peer.closed) return undefined;
    if (!peer.admits(from)) return undefined;
    return peer;
  }
}

/** One node's in-memory transport. */
export class MemoryTransport implements Transport {
  readonly localId: string;
  closed = false;
  readonly #network: MemoryNetwork;
  readonly #env: string;
  readonly #secret: string;
  readonly #log: Logger;
  readonly #messageHandlers = new Map<string, MessageHandler>();
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #unreachable: ((peer: string) => void)[] = [];
  readonly #pending = new Map<
    number,
    { reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }
  >();
  #seq = 0;

  /** Use {@link MemoryNetwork.connect}. */
  constructor(network: MemoryNetwork, options: MemoryTransportOptions) {
    this.#network = network;
    this.localId = options.id;
    this.#env = options.env;
    this.#secret = options.secret;
    this.#log = options.log ?? silentLogger;
  }

  /** @internal Whether `peer` passes admission (same env and secret); logs a refusal. */
  admits(peer: MemoryTransport): boolean {
    const reason = peer.#env !== this.#env
      ? `env mismatch: peer "${peer.#env}", ours "${this.#env}"`
      : peer.#secret !== this.#secret
      ? "peer failed to prove the cluster secret"
      : undefined;
    if (reason === undefined) return true;
    this.#log.warn("cluster.peer.rejected", { remote: peer.localId, peer: peer.localId, reason });
    return false;
  }

  send(peer: string, channel: string, payload: Uint8Array): boolean {
    if (this.closed) return false;
    const target = this.#network.route(this, peer);
    const copy = payload.slice();
    queueMicrotask(() => {
      if (this.closed) return;
      if (target === undefined || target.closed) return this.#notifyUnreachable(peer);
      target.#deliver(this.localId, channel, copy);
    });
    return true;
  }

  onMessage(channel: string, handler: MessageHandler): void {
    this.#messageHandlers.set(channel, handler);
  }

  onRequest(channel: string, handler: RequestHandler): void {
    this.#requestHandlers.set(channel, handler);
  }

  resetReconnectBackoff(_peer: string): void {
    // No back-off in memory.
  }

  onPeerUnreachable(callback: (peer: string) => void): void {
    this.#unreachable.push(callback);
  }

  request(
    peer: string,
    channel: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new PeerUnavailableError(peer, "transport closed"));
    const id = ++this.#seq;
    return new Promise<Uint8Array>((resolve, reject) => {
      const finish = (result: Uint8Array | Error) => {
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#pending.delete(id);
        clearTimeout(p.timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const timer = setTimeout(
        () => finish(new RequestTimeoutError(peer, channel, timeoutMs)),
        timeoutMs,
      );
      this.#pending.set(id, { reject: (e) => finish(e), timer });
      const target = this.#network.route(this, peer);
      const copy = payload.slice();
      queueMicrotask(() => {
        if (target === undefined || target.closed) {
          return finish(new PeerUnavailableError(peer, "unreachable"));
        }
        const handler = target.#requestHandlers.get(channel);
        if (handler === undefined) {
          return finish(new RemoteError(peer, `no handler for channel "${channel}"`));
        }
        Promise.resolve()
          .then(() => handler(this.localId, copy))
          .then(
            (res) => finish(res.slice()),
            (err: unknown) =>
              finish(new RemoteError(peer, err instanceof Error ? err.message : String(err))),
          );
      });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    for (const p of [...this.#pending.values()]) {
      p.reject(new PeerUnavailableError(this.localId, "transport closed"));
    }
    return Promise.resolve();
  }

  #deliver(from: string, channel: string, payload: Uint8Array): void {
    if (this.closed) return;
    const handler = this.#messageHandlers.get(channel);
    if (handler === undefined) return;
    try {
      handler(from, payload);
    } catch (err) {
      this.#log.error("cluster.message.handler_failed", { peer: from, channel, error: err });
    }
  }

  #notifyUnreachable(peer: string): void {
    for (const cb of this.#unreachable) cb(peer);
  }
}
