/**
 * SUBSCRIBE and UNSUBSCRIBE: filter validation and limits, ACL, durable
 * routes (dist) and inbox subscriptions (persistent sessions), SUBACK /
 * UNSUBACK, then retained messages per retain handling.
 *
 * A rejected filter gets its own failure code (v3 0x80; v5 0x8F invalid,
 * 0x87 not authorized, 0x97 quota, 0x9E shared / 0xA2 wildcard not
 * available); the others in the same packet are still granted.
 *
 * @module
 */
import type { Route } from "../../stores/dist/distStore.ts";
import { parseSharedFilter } from "../../stores/dist/topicValidation.ts";
import { type EnqueueItem, InboxLimitError } from "../../stores/inbox/inboxStore.ts";
import type { StoredMessage, SubscriptionOptions } from "../../stores/message.ts";
import { encodeSuback, encodeUnsuback } from "../codec/encode.ts";
import {
  MqttProtocolError,
  ReasonCode,
  type SubscribePacket,
  type UnsubscribePacket,
} from "../codec/types.ts";
import { PublishEncodingCache } from "./publishEncoding.ts";
import type { Session } from "./session.ts";

interface Granted {
  full: string;
  filter: string;
  group: string | null;
  options: SubscriptionOptions;
  existed: boolean;
  /** Index in the SUBACK codes. */
  index: number;
}

/** Handles SUBSCRIBE; resolves after SUBACK and the retained messages. */
export async function handleSubscribe(s: Session, p: SubscribePacket): Promise<void> {
  const ctx = s.ctx;
  const o = ctx.options;
  const v5 = s.version === 5;
  const subId = p.properties.subscriptionIdentifiers?.[0] ?? null;
  if (subId !== null && !o.subscriptionIdentifierAvailable) {
    throw new MqttProtocolError(
      ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
      "subscription identifiers are not available",
    );
  }
  if (p.subscriptions.length > o.maxFiltersPerSubscribe) {
    throw new MqttProtocolError(
      ReasonCode.QUOTA_EXCEEDED,
      `SUBSCRIBE with ${p.subscriptions.length} filters, more than maxFiltersPerSubscribe=${o.maxFiltersPerSubscribe}`,
    );
  }
  const subs = s.subscriptions ??= new Map();
  const codes: number[] = [];
  const granted: Granted[] = [];
  let added = 0;
  const fail = (filter: string, v5Code: number, reason: string) => {
    codes.push(v5 ? v5Code : 0x80);
    ctx.logBadInput("session.subscribe_refused", { clientId: s.clientId, filter, reason });
  };
  for (let i = 0; i < p.subscriptions.length; i++) {
    const req = p.subscriptions[i];
    const parsed = parseSharedFilter(req.filter, o);
    if (!parsed.ok) {
      fail(req.filter, ReasonCode.TOPIC_FILTER_INVALID, parsed.error);
      continue;
    }
    if (parsed.group !== null) {
      if (v5 && req.noLocal) {
        throw new MqttProtocolError(
          ReasonCode.PROTOCOL_ERROR,
          `no-local on shared subscription ${req.filter}`,
        );
      }
      if (!o.sharedSubscriptionAvailable) {
        fail(
          req.filter,
          ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
          "shared subscriptions disabled",
        );
        continue;
      }
    }
    if (!o.wildcardSubscriptionAvailable && /[+#]/.test(parsed.filter)) {
      fail(req.filter, ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED, "wildcards disabled");
      continue;
    }
    if (!ctx.acl.checkSubscribe(s.aclContext, req.filter)) {
      fail(req.filter, o.v5SubscribeDeniedReasonCode, "subscribe not authorized");
      continue;
    }
    const existed = subs.has(req.filter) || granted.some((g) => g.full === req.filter);
    if (!existed && subs.size + added >= o.maxSubscriptionsPerSession) {
      fail(
        req.filter,
        ReasonCode.QUOTA_EXCEEDED,
        `more than maxSubscriptionsPerSession=${o.maxSubscriptionsPerSession}`,
      );
      continue;
    }
    if (!existed) added++;
    granted.push({
      full: req.filter,
      filter: parsed.filter,
      group: parsed.group,
      options: {
        qos: req.qos,
        noLocal: req.noLocal,
        retainAsPublished: req.retainAsPublished,
        retainHandling: req.retainHandling,
        subscriptionId: subId,
      },
      existed: subs.has(req.filter),
      index: codes.length,
    });
    codes.push(req.qos);
  }
  if (granted.length > 0) {
    const routes: Route[] = granted.map((g) => ({
      tenant: s.tenant,
      filter: g.filter,
      shareGroup: g.group,
      receiverId: s.receiverId,
      options: g.options,
      incarnation: s.incarnation,
    }));
    // Both writes in parallel (one commit latency, not two).
    const [put, added] = await Promise.allSettled([
      s.persistent
        ? ctx.inbox.putSubscriptions(
          s.clientKey,
          s.incarnation,
          granted.map((g) => ({ filter: g.full, options: g.options })),
        )
        : Promise.resolve(),
      ctx.dist.addRoutes(routes),
    ]);
    if (added.status === "rejected") throw added.reason;
    if (put.status === "rejected") {
      if (!(put.reason instanceof InboxLimitError)) throw put.reason;
      // Undo the routes: new ones removed, replaced ones restored.
      const fresh = granted.filter((g) => !g.existed);
      await ctx.dist.removeRoutes(s.routeRemovals(fresh.map((g) => g.full)));
      const restore: Route[] = [];
      for (const g of granted) {
        const old = g.existed ? subs.get(g.full) : undefined;
        if (old !== undefined) restore.push({ ...routes[granted.indexOf(g)], options: old });
      }
      if (restore.length > 0) await ctx.dist.addRoutes(restore);
      for (const g of granted) codes[g.index] = v5 ? ReasonCode.QUOTA_EXCEEDED : 0x80;
      granted.length = 0;
    }
  }
  if (s.isClosed()) return;
  for (const g of granted) subs.set(g.full, g.options);
  s.conn.write(encodeSuback(s.version ?? 4, p.packetId, codes));
  for (const g of granted) {
    const rh = g.options.retainHandling;
    if (g.group !== null || rh === 2 || (rh === 1 && g.existed)) continue;
    const retained = await ctx.retain.match(
      s.tenant,
      g.filter,
      ctx.nowMs(),
      o.maxRetainedPerSubscribe,
    );
    if (s.isClosed()) return;
    await deliverRetained(s, retained, g.options);
  }
}

/**
 * Sends the retained messages for a new subscription (RETAIN=1). For a
 * persistent session, QoS 1/2 ones go through its inbox (one enqueue call),
 * so they survive a disconnect like any other queued message.
 */
async function deliverRetained(
  s: Session,
  messages: readonly StoredMessage[],
  options: SubscriptionOptions,
): Promise<void> {
  const ids = options.subscriptionId !== null ? [options.subscriptionId] : [];
  const now = s.ctx.nowMs();
  const items: EnqueueItem[] = [];
  for (const m of messages) {
    const qos = Math.min(m.qos, options.qos) as 0 | 1 | 2;
    if (qos === 0 || !s.persistent) {
      if (!s.isClosed()) s.delivery().deliver(new PublishEncodingCache(m, now), qos, true, ids);
      continue;
    }
    items.push({
      key: s.clientKey,
      incarnation: s.incarnation,
      message: m,
      qos,
      retain: true,
      subscriptionIds: ids,
    });
  }
  if (items.length === 0) return;
  const results = await s.ctx.inbox.enqueue(items);
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (!r.ok) continue;
    const it = items[i];
    s.out?.onInboxAppended(
      r.seq,
      new PublishEncodingCache(it.message, s.ctx.nowMs()),
      it.qos as 1 | 2,
      true,
      ids,
    );
  }
}

/** Handles UNSUBSCRIBE; resolves after UNSUBACK. */
export async function handleUnsubscribe(s: Session, p: UnsubscribePacket): Promise<void> {
  const ctx = s.ctx;
  const v5 = s.version === 5;
  const codes: number[] = [];
  const removed: string[] = [];
  for (const f of p.filters) {
    if (!parseSharedFilter(f, ctx.options).ok) {
      codes.push(ReasonCode.TOPIC_FILTER_INVALID);
      continue;
    }
    const existed = s.subscriptions !== null && s.subscriptions.delete(f);
    if (existed) removed.push(f);
    codes.push(existed ? ReasonCode.SUCCESS : ReasonCode.NO_SUBSCRIPTION_EXISTED);
  }
  if (removed.length > 0) {
    const work: Promise<unknown>[] = [ctx.dist.removeRoutes(s.routeRemovals(removed))];
    if (s.persistent) work.push(ctx.inbox.removeSubscriptions(s.clientKey, s.incarnation, removed));
    await Promise.all(work);
  }
  if (s.isClosed()) return;
  s.conn.write(encodeUnsuback(s.version ?? 4, p.packetId, v5 ? codes : []));
}
