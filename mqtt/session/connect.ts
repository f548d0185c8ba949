/**
 * CONNECT handling: validation (client id, keep-alive, will), authentication,
 * client-id claim (taking over any other connection), clean start / resume of
 * a persistent session, CONNACK with the v5 server properties.
 *
 * Decisions: v3.1 and v3.1.1-with-cleanSession=0 clients must send a client
 * id (CONNACK 0x02); v3.1.1 clean and v5 clients get an assigned one. A v3
 * keep-alive above `maxKeepAliveSeconds` is accepted and the maximum enforced
 * (as mosquitto 2.0.11 does); a v5 client asking 0 or more gets the maximum as
 * Server Keep Alive.
 *
 * @module
 */
import { inboxReceiverId, transientReceiverId } from "../../stores/dist/distStore.ts";
import { topicNameError, utf8ByteLength } from "../../stores/dist/topicValidation.ts";
import { SESSION_NEVER_EXPIRES } from "../../stores/inbox/inboxStore.ts";
import { encodeConnack } from "../codec/encode.ts";
import { type ConnectPacket, type Properties, ReasonCode } from "../codec/types.ts";
import { Outbound } from "./outbound.ts";
import type { Session } from "./session.ts";

function reject(s: Session, v3Code: number, v5Code: number, reason: string): void {
  const v = s.version ?? 4;
  s.ctx.counters.connectsRejected++;
  s.ctx.logBadInput("session.connect_rejected", {
    clientId: s.clientId,
    remoteAddress: s.conn.remoteAddress,
    reasonCode: v === 5 ? v5Code : v3Code,
    reason,
  });
  s.conn.write(
    encodeConnack(
      v,
      false,
      v === 5 ? v5Code : v3Code,
      v === 5 && s.problemInformation ? { reasonString: reason } : null,
    ),
  );
  s.end("protocol-error");
  s.conn.end();
}

/** Handles CONNECT; resolves once CONNACK is written (or the connection refused). */
export async function handleConnect(s: Session, p: ConnectPacket): Promise<void> {
  const ctx = s.ctx;
  const o = ctx.options;
  const v = p.protocolVersion;
  const v5 = v === 5;
  s.version = v;
  if (v5 && p.properties.requestProblemInformation === 0) s.problemInformation = false;
  s.clientId = p.clientId;
  if (v5 && p.properties.authenticationMethod !== undefined) {
    return reject(
      s,
      0,
      ReasonCode.BAD_AUTHENTICATION_METHOD,
      `authentication method ${JSON.stringify(p.properties.authenticationMethod)} is not supported`,
    );
  }
  let clientId = p.clientId;
  let assigned = false;
  if (clientId === "") {
    if (v === 3 || (v === 4 && !p.cleanStart) || !o.allowZeroLengthClientId) {
      return reject(s, 2, ReasonCode.CLIENT_IDENTIFIER_NOT_VALID, "empty client id not allowed");
    }
    clientId = ctx.assignClientId();
    assigned = true;
  }
  const idBytes = utf8ByteLength(clientId);
  if (idBytes > o.maxClientIdBytes) {
    return reject(
      s,
      2,
      ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
      `client id of ${idBytes} bytes exceeds maxClientIdBytes=${o.maxClientIdBytes}`,
    );
  }
  let keepAlive = p.keepAliveSeconds;
  let serverKeepAlive: number | undefined;
  if (v5) {
    if (keepAlive === 0 || keepAlive > o.maxKeepAliveSeconds) {
      keepAlive = o.maxKeepAliveSeconds;
      serverKeepAlive = keepAlive;
    }
  } else if (keepAlive > o.maxKeepAliveSeconds) {
    // v3 cannot be told: accept, and enforce the maximum (1.5 x it of silence closes).
    keepAlive = o.maxKeepAliveSeconds;
  }
  if (p.will !== null) {
    if (p.will.retain && !o.retainAvailable) {
      return reject(
        s,
        3,
        ReasonCode.RETAIN_NOT_SUPPORTED,
        "retained will but retain is not available",
      );
    }
    const err = topicNameError(p.will.topic, o);
    if (err !== null) return reject(s, 3, ReasonCode.TOPIC_NAME_INVALID, `will ${err}`);
  }
  const requestedExpiry = v5
    ? p.properties.sessionExpiryInterval ?? 0
    : p.cleanStart
    ? 0
    : SESSION_NEVER_EXPIRES;
  const expiry = Math.min(requestedExpiry, o.maxSessionExpirySeconds);
  s.sessionExpirySeconds = expiry;

  const conn = s.conn;
  const auth = await ctx.authenticator.authenticate({
    username: p.username,
    password: p.password,
    clientId,
    listener: conn.listener,
    // read only if an authenticator uses it (asking the OS costs a system call)
    get remoteAddress(): string {
      return conn.remoteAddress;
    },
    clientCertificate: conn.clientCertificate,
  });
  if (s.isClosed()) return;
  if (!auth.ok) {
    if (auth.reason === "bad-credentials") {
      return reject(s, 4, ReasonCode.BAD_USERNAME_OR_PASSWORD, "bad user name or password");
    }
    if (auth.reason === "server-busy") return reject(s, 3, ReasonCode.SERVER_BUSY, "server busy");
    return reject(s, 5, ReasonCode.NOT_AUTHORIZED, "not authorized");
  }
  s.clientId = clientId;
  s.tenant = auth.tenant;
  s.user = auth.user;
  s.keyString = `${auth.tenant}\u0000${clientId}`;
  // one object serves as both the store key and the ACL context
  const ident = { tenant: auth.tenant, clientId, user: auth.user };
  s.clientKey = ident;
  s.aclContext = ident;

  const claim = await ctx.sessions.claim(s.clientKey, ctx.nodeId, s.conn.id);
  s.owner = claim.owner;
  if (s.isClosed()) return undoConnect(s, false);

  // A will still waiting from the previous connection of this client id.
  const pending = ctx.pendingWills.get(s.keyString);
  if (pending !== undefined) {
    ctx.pendingWills.delete(s.keyString);
    if (p.cleanStart) ctx.publishWill(pending.will, pending.acl, pending.receiverId);
  }

  // Read at once when the store can (a clean session's CONNECT then skips a store turn).
  let existing = ctx.inbox.getNow?.(s.clientKey);
  if (existing === undefined) existing = await ctx.inbox.get(s.clientKey);
  if (s.isClosed()) return undoConnect(s, false);
  if (existing !== null && existing.expiresAtMs !== null && existing.expiresAtMs <= ctx.nowMs()) {
    // Expired but not yet swept: the old session ended; do not resume it.
    s.receiverId = inboxReceiverId(s.tenant, clientId);
    s.incarnation = existing.incarnation;
    const removals = s.routeRemovals(existing.subscriptions.keys());
    if (removals.length > 0) await ctx.dist.removeRoutes(removals);
    await ctx.inbox.delete(s.clientKey, existing.incarnation);
    ctx.sentHighWater.delete(s.keyString);
    existing = null;
    if (s.isClosed()) return undoConnect(s, false);
  }
  if (existing !== null && p.cleanStart) {
    const oldReceiver = inboxReceiverId(s.tenant, clientId);
    s.receiverId = oldReceiver;
    s.incarnation = existing.incarnation;
    const removals = s.routeRemovals(existing.subscriptions.keys());
    if (removals.length > 0) await ctx.dist.removeRoutes(removals);
    if (expiry === 0) await ctx.inbox.delete(s.clientKey, existing.incarnation);
    ctx.sentHighWater.delete(s.keyString);
    if (s.isClosed()) return undoConnect(s, false);
  }
  const persistent = expiry > 0 || (existing !== null && !p.cleanStart);
  let sessionPresent = false;
  if (persistent) {
    const { meta, resumed } = await ctx.inbox.attach(s.clientKey, {
      cleanStart: p.cleanStart,
      sessionExpirySeconds: expiry,
      nowMs: ctx.nowMs(),
    });
    s.persistent = true;
    s.incarnation = meta.incarnation;
    s.receiverId = inboxReceiverId(s.tenant, clientId);
    sessionPresent = resumed;
    if (meta.subscriptions.size > 0) s.subscriptions = new Map(meta.subscriptions);
    if (resumed) {
      const ids = await ctx.inbox.incomingQos2(s.clientKey);
      if (ids.length > 0) s.inboundQos2 = new Set(ids);
    } else {
      ctx.sentHighWater.delete(s.keyString);
    }
    if (s.isClosed()) return undoConnect(s, true);
  } else {
    s.receiverId = transientReceiverId(ctx.nodeId, String(s.conn.id));
    s.incarnation = claim.owner.incarnation;
  }

  s.keepAliveMs = keepAlive * 1000;
  s.will = p.will;
  if (v5) {
    s.clientReceiveMaximum = p.properties.receiveMaximum ?? 65535;
    s.clientMaxPacketBytes = p.properties.maximumPacketSize ?? 0;
    s.clientTopicAliasMaximum = p.properties.topicAliasMaximum ?? 0;
  }
  if (persistent) s.out = new Outbound(s, true); // transient ones get theirs at first use
  s.phase = "connected";
  ctx.counters.connections++;
  ctx.counters.connectsAccepted++;
  ctx.receivers.set(s.receiverId, s);

  let props: Properties | null = null;
  if (v5) {
    props = {};
    if (expiry !== requestedExpiry) props.sessionExpiryInterval = expiry;
    if (assigned) props.assignedClientIdentifier = clientId;
    if (serverKeepAlive !== undefined) props.serverKeepAlive = serverKeepAlive;
    if (o.receiveMaximum < 65535) props.receiveMaximum = o.receiveMaximum;
    props.maximumPacketSize = o.maxPacketBytes;
    if (o.topicAliasMaximum > 0) props.topicAliasMaximum = o.topicAliasMaximum;
    if (!o.retainAvailable) props.retainAvailable = 0;
    if (!o.wildcardSubscriptionAvailable) props.wildcardSubscriptionAvailable = 0;
    if (!o.subscriptionIdentifierAvailable) props.subscriptionIdentifierAvailable = 0;
    if (!o.sharedSubscriptionAvailable) props.sharedSubscriptionAvailable = 0;
  }
  // MQTT 3.1 has no session-present flag (the byte is reserved)
  s.conn.write(encodeConnack(v, v === 3 ? false : sessionPresent, 0, props));
  s.conn.markConnected();
  s.conn.setMaxInboundPacketBytes(o.maxPacketBytes);
  ctx.log.debug("session.connected", {
    clientId,
    tenant: s.tenant,
    protocolVersion: v,
    persistent,
    sessionPresent,
  });
  s.out?.pump();
}

/** The connection closed while CONNECT was in progress: give back what it took. */
function undoConnect(s: Session, attached: boolean): void {
  const ctx = s.ctx;
  if (attached && s.endReason !== "taken-over") {
    ctx.track(
      ctx.inbox.detach(s.clientKey, s.incarnation, s.sessionExpirySeconds, ctx.nowMs()),
      "inbox.detach",
    );
  }
  if (s.owner !== null) ctx.track(ctx.sessions.release(s.clientKey, s.owner), "sessions.release");
}
