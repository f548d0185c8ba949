/**
 * Outgoing delivery of one session: QoS 0 writes, the QoS 1/2 in-flight
 * window (bounded by `maxInflightOutbound` and the client's Receive Maximum),
 * the bounded queue of a transient session, and the inbox pump of a
 * persistent one (entries read from the inbox, acknowledged ones removed,
 * PUBREL state persisted with `markReleased`).
 *
 * @module
 */
import { type InboxEntry, packetIdForSeq } from "../../stores/inbox/inboxStore.ts";
import type { StoredMessage } from "../../stores/message.ts";
import { encodeAck } from "../codec/encode.ts";
import { ReasonCode } from "../codec/types.ts";
import { encodeOutgoingPublish, PublishEncodingCache } from "./publishEncoding.ts";
import type { Session } from "./session.ts";
import { holdPublisher, markCongested } from "./backpressure.ts";

interface InflightEntry {
  /** Inbox seq (persistent) or 0 (transient). */
  seq: number;
  qos: 1 | 2;
  /** PUBREC received, PUBREL sent. */
  released: boolean;
}

interface QueuedItem {
  message: StoredMessage;
  qos: 1 | 2;
  retain: boolean;
  subscriptionIds: readonly number[];
}

const NO_IDS: readonly number[] = [];
const NO_ENTRIES: InboxEntry[] = [];
/** Most inbox entries read ahead per persistent session. */
const PREFETCH_MAX_ENTRIES = 512;
/** Approximate bytes of read-ahead per persistent session. */
const PREFETCH_MAX_BYTES = 4 * 1024 * 1024;
/** Shared empty in-flight table; never written (see Outbound.track). */
const NO_INFLIGHT: Map<number, InflightEntry> = new Map();

/** Delivery state of one connected session. */
export class Outbound {
  /** Allocated at the first QoS 1/2 delivery (idle connections stay small). */
  private inflightMap: Map<number, InflightEntry> | null = null;
  private queue: QueuedItem[] | null = null;
  private nextPacketId = 1;
  /** Outbound topic aliases (v5), first come first served up to the client's maximum. */
  private aliases: Map<string, number> | null = null;
  // persistent (inbox) mode
  private cursorSeq = 0;
  private reading = false;
  /** Acknowledged seqs not yet handed to the inbox (flushed at the end of the turn). */
  private pendingRemovals: number[] | null = null;
  /** Entries read from the inbox but not sent yet (from prefetchHead on). */
  private prefetched: InboxEntry[] = NO_ENTRIES;
  private prefetchHead = 0;
  /** Running average of entry sizes (payload + overhead), to bound read-ahead memory. */
  private avgEntryBytes = 1024;
  private dirty = true;
  private disposed = false;
  /**
   * At most the seq of every in-flight entry (persistent mode), so
   * {@link withinIdSpan} can skip scanning the in-flight table per message.
   */
  private minSeqBound = Infinity;

  constructor(private readonly s: Session, readonly persistent: boolean) {}

  private get inflight(): ReadonlyMap<number, InflightEntry> & { delete(id: number): boolean } {
    return this.inflightMap ?? NO_INFLIGHT;
  }

  /** Puts an entry in flight under packet id `id`. */
  private track(id: number, entry: InflightEntry): void {
    (this.inflightMap ??= new Map()).set(id, entry);
    if (entry.seq < this.minSeqBound) this.minSeqBound = entry.seq;
  }

  /** Window size: min(server maxInflightOutbound, client Receive Maximum). */
  private get window(): number {
    return Math.min(this.s.ctx.options.maxInflightOutbound, this.s.clientReceiveMaximum);
  }

  /** Number of QoS 1/2 messages awaiting acknowledgement. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Stops all activity (session closed). */
  dispose(): void {
    this.disposed = true;
    this.queue = null;
  }

  /**
   * Live delivery from the router: QoS 0 to any session, QoS 1/2 to
   * transient sessions (persistent ones get QoS 1/2 through the inbox).
   */
  deliver(
    cache: PublishEncodingCache,
    qos: 0 | 1 | 2,
    retain: boolean,
    subscriptionIds: readonly number[],
    publisher: Session | null = null,
  ): void {
    if (this.disposed) return;
    const s = this.s;
    const c = s.ctx.counters;
    if (qos === 0) {
      if (s.congested) {
        if (s.slow || s.conn.bufferedBytes >= s.ctx.options.qos0DropBufferedBytes) {
          c.droppedCongested++;
          return;
        }
      }
      this.sendPublish(cache, 0, retain, subscriptionIds, 0, false);
      if (s.congested && publisher !== null) holdPublisher(s, publisher);
      return;
    }
    const m = cache.message;
    if (
      this.queue === null || this.queue.length === 0
    ) {
      if (!this.s.congested && this.inflight.size < this.window) {
        this.sendTransient({ message: m, qos, retain, subscriptionIds }, cache);
        return;
      }
    }
    const q = this.queue ??= [];
    if (q.length >= this.s.ctx.options.maxQueuedMessagesPerSession) {
      c.droppedQueueFull++;
      if (this.s.ctx.options.queueOverflowPolicy === "drop-newest") return;
      q.shift();
    }
    q.push({ message: m, qos, retain, subscriptionIds });
    if (s.congested && publisher !== null) holdPublisher(s, publisher);
  }

  private sendTransient(item: QueuedItem, cache: PublishEncodingCache | null): void {
    const id = this.allocPacketId();
    this.track(id, { seq: 0, qos: item.qos, released: false });
    const c = cache ?? new PublishEncodingCache(item.message, this.s.ctx.nowMs());
    if (!this.sendPublish(c, item.qos, item.retain, item.subscriptionIds, id, false)) {
      this.inflight.delete(id);
    }
  }

  private allocPacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    throw new Error("no free packet identifier (65535 in flight)");
  }

  /**
   * Writes one PUBLISH. Returns false when it was not sent: expired, denied
   * by the ACL, or larger than the client's Maximum Packet Size.
   */
  sendPublish(
    cache: PublishEncodingCache,
    qos: 0 | 1 | 2,
    retain: boolean,
    subscriptionIds: readonly number[],
    packetId: number,
    dup: boolean,
  ): boolean {
    const s = this.s;
    const m = cache.message;
    const c = s.ctx.counters;
    if (m.expiresAtMs !== null && m.expiresAtMs <= cache.nowMs) {
      c.droppedExpired++;
      return false;
    }
    if (!s.ctx.acl.checkDeliver(s.aclContext, m.topic)) {
      c.droppedDenied++;
      return false;
    }
    let topicAlias = 0;
    let sendTopicWithAlias = false;
    if (s.clientTopicAliasMaximum > 0) {
      const aliases = this.aliases ??= new Map();
      const known = aliases.get(m.topic);
      if (known !== undefined) topicAlias = known;
      else if (aliases.size < s.clientTopicAliasMaximum) {
        topicAlias = aliases.size + 1;
        sendTopicWithAlias = true;
      }
    }
    const version = s.version ?? 4;
    const bytes = encodeOutgoingPublish(version, cache, {
      qos,
      retain,
      packetId,
      dup,
      subscriptionIds: version === 5 ? subscriptionIds : NO_IDS,
      topicAlias,
      sendTopicWithAlias,
    });
    if (s.clientMaxPacketBytes > 0 && bytes.length > s.clientMaxPacketBytes) {
      c.droppedTooLarge++;
      return false;
    }
    if (sendTopicWithAlias) this.aliases!.set(m.topic, topicAlias);
    c.publishesOut++;
    if (!s.conn.write(bytes)) markCongested(s);
    return true;
  }

  /** PUBACK from the client. Unknown ids are ignored. */
  onPuback(packetId: number): void {
    const e = this.inflight.get(packetId);
    if (e === undefined || e.qos !== 1) {
      this.s.ctx.log.debug("session.unexpected_puback", { clientId: this.s.clientId, packetId });
      return;
    }
    this.complete(packetId, e);
  }

  /** PUBREC from the client: reply PUBREL (persisting the released state). */
  onPubrec(packetId: number, reasonCode: number): void {
    const s = this.s;
    const e = this.inflight.get(packetId);
    if (e === undefined || e.qos !== 2) {
      if (s.version === 5) {
        s.conn.write(encodeAck(6, 5, packetId, ReasonCode.PACKET_ID_NOT_FOUND));
      }
      return;
    }
    if (reasonCode >= 0x80) {
      this.complete(packetId, e);
      return;
    }
    if (!e.released) {
      e.released = true;
      if (this.persistent) {
        s.ctx.inbox.markReleased(s.clientKey, e.seq).catch((err) => s.storeFailed(err));
      }
    }
    s.conn.write(encodeAck(6, s.version ?? 4, packetId));
  }

  /** PUBCOMP from the client. */
  onPubcomp(packetId: number): void {
    const e = this.inflight.get(packetId);
    if (e === undefined || !e.released) {
      this.s.ctx.log.debug("session.unexpected_pubcomp", { clientId: this.s.clientId, packetId });
      return;
    }
    this.complete(packetId, e);
  }

  private complete(packetId: number, e: InflightEntry): void {
    this.inflight.delete(packetId);
    if (this.persistent) {
      this.removeFromInbox(e.seq);
    }
    this.pump();
  }

  /**
   * Removes an acknowledged entry from the inbox. Removals of one event-loop
   * turn go to the store as one call (a drain acknowledges many at once).
   */
  private removeFromInbox(seq: number): void {
    if (this.pendingRemovals !== null) {
      this.pendingRemovals.push(seq);
      return;
    }
    this.pendingRemovals = [seq];
    queueMicrotask(() => {
      const seqs = this.pendingRemovals;
      this.pendingRemovals = null;
      if (seqs === null || seqs.length === 0) return;
      const s = this.s;
      s.ctx.track(s.ctx.inbox.remove(s.clientKey, seqs), "inbox.remove");
    });
  }

  /** Sends what waits (after an ack, a drain, or new inbox entries). */
  pump(): void {
    if (this.disposed || this.s.congested) return;
    if (this.persistent) {
      this.pumpInbox();
      return;
    }
    const q = this.queue;
    if (q === null) return;
    while (q.length > 0 && this.inflight.size < this.window && !this.s.congested) {
      this.sendTransient(q.shift()!, null);
    }
  }

  /**
   * A message was appended to this session's inbox with `seq`. Sent at once
   * when the session is caught up, else picked up by the next inbox read.
   */
  onInboxAppended(
    seq: number,
    cache: PublishEncodingCache,
    qos: 1 | 2,
    retain: boolean,
    ids: readonly number[],
  ): void {
    if (this.disposed) return;
    if (
      !this.reading && !this.dirty && seq === this.cursorSeq + 1 && !this.s.congested &&
      this.prefetchHead >= this.prefetched.length && this.inflight.size < this.window &&
      this.withinIdSpan(seq)
    ) {
      this.cursorSeq = seq;
      this.sendEntry(seq, cache, qos, retain, ids, false);
      return;
    }
    this.dirty = true;
    this.pump();
  }

  /** True when `seq` is less than 65535 above every in-flight seq (packet ids stay distinct). */
  private withinIdSpan(seq: number): boolean {
    if (seq - this.minSeqBound < 65535) return true;
    let min = Infinity;
    for (const e of this.inflight.values()) if (e.seq < min) min = e.seq;
    this.minSeqBound = min;
    return seq - min < 65535;
  }

  private sendEntry(
    seq: number,
    cache: PublishEncodingCache,
    qos: 0 | 1 | 2,
    retain: boolean,
    ids: readonly number[],
    dup: boolean,
  ): void {
    const s = this.s;
    if (qos === 0) {
      this.sendPublish(cache, 0, retain, ids, 0, false);
      this.removeFromInbox(seq);
      return;
    }
    const id = packetIdForSeq(seq);
    this.track(id, { seq, qos, released: false });
    const hw = s.ctx.sentHighWater;
    if ((hw.get(s.keyString) ?? 0) < seq) hw.set(s.keyString, seq);
    if (!this.sendPublish(cache, qos, retain, ids, id, dup)) {
      this.inflight.delete(id);
      this.removeFromInbox(seq);
    }
  }

  /**
   * Persistent session: send prefetched entries while the window has room;
   * read ahead (up to 2 x window entries, bounding memory per session) when
   * the buffer runs low, so reads are few and large.
   */
  private pumpInbox(): void {
    this.sendPrefetched();
    const buffered = this.prefetched.length - this.prefetchHead;
    // Read-ahead target: up to PREFETCH_MAX_ENTRIES, fewer for large messages
    // (about PREFETCH_MAX_BYTES buffered), never less than the window.
    const target = Math.max(
      this.window,
      Math.min(PREFETCH_MAX_ENTRIES, Math.floor(PREFETCH_MAX_BYTES / this.avgEntryBytes)),
    );
    if (this.reading || !this.dirty || buffered * 2 >= target) return;
    const s = this.s;
    const want = target - buffered;
    this.reading = true;
    this.dirty = false;
    s.ctx.inbox.read(s.clientKey, this.cursorSeq, want, s.ctx.nowMs()).then((entries) => {
      this.reading = false;
      if (this.disposed) return;
      // a private array (never push onto the shared empty one)
      this.prefetched = this.prefetched.slice(this.prefetchHead);
      this.prefetchHead = 0;
      for (const e of entries) {
        this.avgEntryBytes = (this.avgEntryBytes * 7 + e.message.payload.length + 64) / 8;
        if (e.seq <= this.cursorSeq) continue;
        this.prefetched.push(e);
        this.cursorSeq = e.seq;
      }
      if (entries.length >= want) this.dirty = true;
      this.pump();
    }, (err) => {
      this.reading = false;
      s.storeFailed(err);
    });
  }

  private sendPrefetched(): void {
    const s = this.s;
    const list = this.prefetched;
    if (this.prefetchHead >= list.length) return;
    // DUP: sent before by this process (high-water mark), or — after a broker
    // restart, when no mark exists — queued before this process started.
    const mark = s.ctx.sentHighWater.get(s.keyString);
    const sentBefore = mark ?? 0;
    const startedAtMs = mark === undefined ? s.ctx.startedAtMs : -Infinity;
    const now = s.ctx.nowMs();
    while (this.prefetchHead < list.length) {
      const e = list[this.prefetchHead];
      if (!this.withinIdSpan(e.seq) || s.congested || this.inflight.size >= this.window) return;
      this.prefetchHead++;
      if (e.state === "released") {
        const id = packetIdForSeq(e.seq);
        this.track(id, { seq: e.seq, qos: 2, released: true });
        if (!s.conn.write(encodeAck(6, s.version ?? 4, id))) markCongested(s);
        continue;
      }
      const cache = new PublishEncodingCache(e.message, now);
      const dup = e.seq <= sentBefore || e.message.receivedAtMs < startedAtMs;
      this.sendEntry(e.seq, cache, e.qos, e.retain, e.subscriptionIds, dup);
    }
    this.prefetched = NO_ENTRIES;
    this.prefetchHead = 0;
  }
}
