/**
 * Routing one message to its subscribers: match on the local dist trie,
 * merge overlapping subscriptions of one receiver (one delivery at the highest
 * granted QoS, with every subscription identifier), pick one member per
 * shared group (round-robin, connected members first), deliver to connected
 * sessions directly and collect all appends to persistent inboxes into one
 * `enqueue` call.
 *
 * QoS 0 to an offline persistent session is not queued (counted as
 * `droppedOffline`), as mosquitto does by default.
 *
 * @module
 */
import type { Route } from "../../stores/dist/distStore.ts";
import type { EnqueueItem } from "../../stores/inbox/inboxStore.ts";
import type { ClientKey, StoredMessage } from "../../stores/message.ts";
import type { BrokerContext } from "../session/context.ts";
import type { PublishPacket } from "../codec/types.ts";
import { PublishEncodingCache } from "../session/publishEncoding.ts";
import type { Session } from "../session/session.ts";

const NO_IDS: readonly number[] = [];
/** Round-robin positions kept before the table is reset (bounds memory). */
const MAX_SHARE_CURSORS = 100_000;

interface Aggregate {
  route: Route;
  qos: 0 | 1 | 2;
  retain: boolean;
  ids: number[] | null;
}

/** Appends to persistent inboxes collected during one fan-out. */
interface InboxBatch {
  items: EnqueueItem[];
  /** Receiver id of each item. */
  receivers: string[];
}

function inboxKeyOf(receiverId: string): ClientKey {
  const sep = receiverId.indexOf("\u0000");
  return { tenant: receiverId.slice(2, sep), clientId: receiverId.slice(sep + 1) };
}

/** Routes messages for one broker. */
export class Router {
  private shareCursors = new Map<string, number>();

  constructor(private readonly ctx: BrokerContext) {}

  /** See {@link BrokerContext.route}. */
  route(
    m: StoredMessage,
    publisherReceiverId: string | null,
    inbound: PublishPacket | null = null,
    publisher: Session | null = null,
  ): Promise<void> | null {
    const ctx = this.ctx;
    const match = ctx.dist.match(m.tenant, m.topic);
    const normal = match.normal;
    if (normal.length === 0 && match.shared.size === 0) return null;
    const now = ctx.nowMs();
    const cache = new PublishEncodingCache(m, now);
    if (inbound !== null && inbound.raw !== null && inbound.topicLength > 0) {
      const v5 = inbound.v5;
      cache.seedFromInbound(
        inbound.raw,
        inbound.topicOffset,
        inbound.topicLength,
        v5,
        !v5 || inbound.properties === null,
      );
    }
    let batch: InboxBatch | null = null;

    if (normal.length === 1) {
      const r = normal[0];
      const o = r.options;
      if (!(o.noLocal && r.receiverId === publisherReceiverId)) {
        const qos = (o.qos < m.qos ? o.qos : m.qos) as 0 | 1 | 2;
        batch = this.deliver(
          cache,
          publisher,
          batch,
          r,
          qos,
          o.retainAsPublished && m.retain,
          o.subscriptionId !== null ? [o.subscriptionId] : NO_IDS,
        );
      }
    } else if (normal.length > 1) {
      const byReceiver = new Map<string, Aggregate>();
      for (const r of normal) {
        const o = r.options;
        if (o.noLocal && r.receiverId === publisherReceiverId) continue;
        const qos = (o.qos < m.qos ? o.qos : m.qos) as 0 | 1 | 2;
        const retain = o.retainAsPublished && m.retain;
        const agg = byReceiver.get(r.receiverId);
        if (agg === undefined) {
          byReceiver.set(r.receiverId, {
            route: r,
            qos,
            retain,
            ids: o.subscriptionId !== null ? [o.subscriptionId] : null,
          });
          continue;
        }
        if (qos > agg.qos) agg.qos = qos;
        if (retain) agg.retain = true;
        if (o.subscriptionId !== null) (agg.ids ??= []).push(o.subscriptionId);
      }
      for (const a of byReceiver.values()) {
        batch = this.deliver(cache, publisher, batch, a.route, a.qos, a.retain, a.ids ?? NO_IDS);
      }
    }

    for (const [group, members] of match.shared) {
      const r = this.pickShareMember(`${m.tenant}\u0000${group}`, members);
      if (r === null) continue;
      const o = r.options;
      const qos = (o.qos < m.qos ? o.qos : m.qos) as 0 | 1 | 2;
      batch = this.deliver(
        cache,
        publisher,
        batch,
        r,
        qos,
        o.retainAsPublished && m.retain,
        o.subscriptionId !== null ? [o.subscriptionId] : NO_IDS,
      );
    }

    if (batch === null) return null;
    const { items: appended, receivers } = batch;
    return ctx.inbox.enqueue(appended).then((results) => {
      for (let i = 0; i < results.length; i++) {
        const r = results[i];
        if (!r.ok) {
          ctx.counters.droppedInboxFull++;
          continue;
        }
        const session = ctx.receivers.get(receivers[i]);
        const item = appended[i];
        session?.out?.onInboxAppended(
          r.seq,
          cache,
          item.qos as 1 | 2,
          item.retain,
          item.subscriptionIds,
        );
      }
    });
  }

  /**
   * One delivery of `cache.message`: written at once to a connected session
   * (QoS 0, or any QoS to a transient one), else added to `batch` (created
   * when null) for one inbox append. Returns the batch.
   */
  private deliver(
    cache: PublishEncodingCache,
    publisher: Session | null,
    batch: InboxBatch | null,
    route: Route,
    qos: 0 | 1 | 2,
    retain: boolean,
    ids: readonly number[],
  ): InboxBatch | null {
    const ctx = this.ctx;
    const rid = route.receiverId;
    const session = ctx.receivers.get(rid);
    if (rid.charCodeAt(0) === 115 /* "s": transient */ || qos === 0) {
      if (session === undefined || session.phase !== "connected") {
        if (qos === 0 && rid.charCodeAt(0) !== 115) ctx.counters.droppedOffline++;
        return batch;
      }
      session.delivery().deliver(cache, qos, retain, ids, publisher);
      return batch;
    }
    batch ??= { items: [], receivers: [] };
    batch.items.push({
      key: session !== undefined ? session.clientKey : inboxKeyOf(rid),
      incarnation: route.incarnation,
      message: cache.message,
      qos,
      retain,
      subscriptionIds: ids,
    });
    batch.receivers.push(rid);
    return batch;
  }

  /** Round-robin over the group, preferring connected, uncongested members. */
  private pickShareMember(key: string, members: readonly Route[]): Route | null {
    const n = members.length;
    if (n === 0) return null;
    const start = this.shareCursors.get(key) ?? 0;
    let fallback: Route | null = null;
    for (let i = 0; i < n; i++) {
      const r = members[(start + i) % n];
      const s = this.ctx.receivers.get(r.receiverId);
      if (s !== undefined && !s.congested) {
        this.advance(key, start + i + 1);
        return r;
      }
      if (fallback === null && (s !== undefined || r.receiverId.charCodeAt(0) !== 115)) {
        fallback = r;
      }
    }
    this.advance(key, start + 1);
    return fallback;
  }

  private advance(key: string, next: number): void {
    if (this.shareCursors.size >= MAX_SHARE_CURSORS && !this.shareCursors.has(key)) {
      this.shareCursors.clear();
    }
    this.shareCursors.set(key, next % 1_000_000_007);
  }
}
