/**
 * The membership driver: owns the wall clock, the timer and the transport, feeds
 * the pure {@link MembershipCore}, sends its packets on the `swim` channel and logs
 * every membership change as a JSON line
 * `{"event":"member.alive"|"member.suspect"|"member.dead"|"member.left","member":"HOST:PORT",...}`.
 * Other services share the transport through their own channels.
 *
 * @module
 */

import type { Logger } from "../log/jsonLog.ts";
import { type MembershipConfig, resolveMembershipConfig, type TransportConfig } from "./config.ts";
import { decodePacket, encodePacket, MEMBERSHIP_CHANNEL, type NodeMetadata } from "./messages.ts";

export { MEMBERSHIP_CHANNEL };
import {
  type MemberInfo,
  MembershipCore,
  type MembershipEvent,
  type MembershipOutput,
} from "./membership.ts";
import { createSeededRandom } from "./rng.ts";
import { listenTcpTransport } from "./tcpTransport.ts";
import {
  isEndpoint,
  type MessageHandler,
  type RequestHandler,
  type Transport,
} from "./transport.ts";

/** Options of {@link startClusterNode} (from `clusterConfig` plus tunables). */
export interface ClusterNodeOptions {
  /** Cluster environment; nodes of another env are never admitted. */
  env: string;
  /** Address to bind and advertise. */
  host: string;
  /** Cluster port; 0 picks a free port (tests). */
  port: number;
  /** Seed endpoints `HOST:PORT`; this node's own endpoint may be listed. */
  seedEndpoints: string[];
  /** Shared cluster secret (proven by HMAC, never sent). */
  secret: string;
  /** Initial node metadata. */
  metadata: NodeMetadata;
  membership?: Partial<MembershipConfig>;
  transport?: Partial<TransportConfig>;
  /** Use this transport instead of binding TCP (tests: the in-memory transport). */
  transportInstance?: Transport;
}

/** A running cluster member. */
export interface ClusterNode {
  /** This node's cluster endpoint `HOST:PORT`. */
  readonly id: string;
  /** Every known member including this node (id, endpoint, state, incarnation, metadata). */
  members(): MemberInfo[];
  /** Subscribes to membership changes; returns the unsubscribe function. */
  onMembershipChange(callback: (event: MembershipEvent) => void): () => void;
  /** Replaces this node's metadata (gossiped with a higher incarnation); rate-limit load updates. */
  updateMetadata(metadata: NodeMetadata): void;
  /** One-way message; false when the peer's send queue is full. */
  send(peer: string, channel: string, payload: Uint8Array): boolean;
  /** Handler of one-way messages on `channel` (not `swim`). */
  onMessage(channel: string, handler: MessageHandler): void;
  /** Request/response RPC with a timeout. */
  request(
    peer: string,
    channel: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array>;
  /** Handler of requests on `channel`. */
  onRequest(channel: string, handler: RequestHandler): void;
  /** Leaves gracefully (others log `member.left`), then closes. */
  leave(): Promise<void>;
  /** Stops without announcing (others will detect the failure). */
  close(): Promise<void>;
}

/** Largest timer delay; the core is ticked at least this often. */
const MAX_TIMER_MS = 1000;
const BAD_PACKET_LOG_INTERVAL_MS = 5000;

/** Binds the transport, starts membership and joins through the seeds. */
export async function startClusterNode(
  options: ClusterNodeOptions,
  log: Logger,
): Promise<ClusterNode> {
  const config = resolveMembershipConfig(options.membership);
  const seeds = options.seedEndpoints.map((s) => s.trim()).filter((s) => s.length > 0);
  for (const s of seeds) {
    if (!isEndpoint(s)) {
      throw new RangeError(
        `clusterConfig.seedEndpoints: invalid endpoint "${s}", expected HOST:PORT`,
      );
    }
  }
  if (options.env.length === 0) throw new RangeError("clusterConfig.env must not be empty");
  if (options.secret.length === 0) {
    log.warn("cluster.secret.empty", {
      message: "clusterConfig.secret is empty: any peer of the same env is admitted",
    });
  }
  const transport = options.transportInstance ??
    await listenTcpTransport({
      host: options.host,
      port: options.port,
      env: options.env,
      secret: options.secret,
      config: options.transport,
      log,
    });
  const seed = new Uint32Array(1);
  crypto.getRandomValues(seed);
  const core = new MembershipCore({
    selfId: transport.localId,
    metadata: options.metadata,
    config,
    random: createSeededRandom(seed[0]),
    nowMs: Date.now(),
  });
  const listeners = new Set<(event: MembershipEvent) => void>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let lastBadPacketLogMs = 0;

  const logEvent = (e: MembershipEvent) => {
    const fields = {
      member: e.member.id,
      incarnation: e.member.incarnation,
      previous: e.previous,
      ...(e.accuser === undefined ? {} : { accuser: e.accuser }),
      metadata: e.member.metadata,
    };
    if (e.kind === "refuted") log.warn("member.refute", fields);
    else if (e.kind === "updated") log.debug("member.updated", fields);
    else if (e.kind === "alive") log.info("member.alive", fields);
    else log.warn(`member.${e.kind}`, fields);
  };

  const apply = (out: MembershipOutput) => {
    if (closed) return;
    for (const e of out.events) {
      // A member back from dead/left/unknown: dial it now, not after a stale back-off.
      if (e.kind === "alive" && e.previous !== "suspect") {
        transport.resetReconnectBackoff(e.member.id);
      }
    }
    for (const p of out.packets) transport.send(p.to, MEMBERSHIP_CHANNEL, encodePacket(p.messages));
    for (const e of out.events) {
      logEvent(e);
      for (const cb of listeners) {
        try {
          cb(e);
        } catch (err) {
          log.error("cluster.listener_failed", { error: err });
        }
      }
    }
    if (timer !== undefined) clearTimeout(timer);
    const delayMs = Math.min(MAX_TIMER_MS, Math.max(0, out.nextDeadlineMs - Date.now()));
    timer = setTimeout(() => {
      timer = undefined;
      apply(core.onTick(Date.now()));
    }, delayMs);
  };

  transport.onMessage(MEMBERSHIP_CHANNEL, (from, payload) => {
    let messages;
    try {
      messages = decodePacket(payload);
    } catch (err) {
      const now = Date.now();
      if (now - lastBadPacketLogMs > BAD_PACKET_LOG_INTERVAL_MS) {
        lastBadPacketLogMs = now;
        log.warn("cluster.swim.bad_packet", { peer: from, error: err });
      }
      return;
    }
    apply(core.onMessage(from, messages, Date.now()));
  });
  transport.onPeerUnreachable((peer) => apply(core.hintUnreachable(peer, Date.now())));

  log.info("cluster.started", { member: transport.localId, env: options.env, seeds });
  apply(core.join(seeds, Date.now()));

  const close = async () => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    await transport.close();
    log.info("cluster.stopped", { member: transport.localId });
  };

  return {
    id: transport.localId,
    members: () => core.members(),
    onMembershipChange(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    updateMetadata(metadata) {
      apply(core.updateMetadata(metadata, Date.now()));
    },
    send: (peer, channel, payload) => transport.send(peer, channel, payload),
    onMessage(channel, handler) {
      if (channel === MEMBERSHIP_CHANNEL) throw new RangeError(`channel "${channel}" is reserved`);
      transport.onMessage(channel, handler);
    },
    request: (peer, channel, payload, timeoutMs) =>
      transport.request(peer, channel, payload, timeoutMs),
    onRequest(channel, handler) {
      if (channel === MEMBERSHIP_CHANNEL) throw new RangeError(`channel "${channel}" is reserved`);
      transport.onRequest(channel, handler);
    },
    async leave() {
      if (closed) return;
      apply(core.leave(Date.now()));
      log.info("cluster.leaving", { member: transport.localId });
      const anyoneToTell = core.members().some((m) =>
        m.id !== core.selfId && (m.state === "alive" || m.state === "suspect")
      );
      const deadline = Date.now() + (anyoneToTell ? config.leavePropagateMs : 0);
      while (Date.now() < deadline && core.pendingBroadcasts > 0) {
        await new Promise((r) => setTimeout(r, config.gossipIntervalMs));
      }
      await close();
    },
    close,
  };
}
