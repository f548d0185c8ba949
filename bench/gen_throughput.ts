/**
 * Throughput and latency scenarios of the load generator: QoS 0 fan-in and
 * fan-out, QoS 1 with a window of un-acked publishes, and QoS 1 paced at a
 * fixed rate. All closed-loop: publishers pause while too many messages are
 * undelivered, so the broker is measured at its pace, not drowned.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { GenClient } from "./gen_client.ts";
import {
  oncePerTurn,
  type RunControl,
  SeqTracker,
  STALL_MS,
  timedRun,
  type TimedRunResult,
} from "./gen_loop.ts";
import type { GenResult, GenSpec } from "./gen_types.ts";
import { LatencyRecorder } from "./stats.ts";
import type { PhaseCpu } from "./procstat.ts";
import { buildPublishBatch, PacketType, parsePublish, publishTemplate } from "./wire.ts";

/** Payload size of every scenario here, as in the peer figures. */
export const PAYLOAD_BYTES = 64;
/** Hard cap of messages per run (safety net besides the time bound). */
export const MAX_MESSAGES_PER_RUN = 50_000_000;
/** Longest wait for in-flight messages after publishing stops. */
export const DRAIN_TIMEOUT_MS = 3000;

/** Fan-in: publishers, their shared in-flight window (messages), batch per write. */
export const FANIN = { publishers: 16, windowMsgs: 1024, batchMsgs: 16 } as const;
/** Fan-out: subscribers, the publisher's window (messages not yet at every subscriber). */
export const FANOUT = { subscribers: 100, windowMsgs: 128, batchMsgs: 16 } as const;
/** QoS 1: un-acked PUBLISH window, and a cap on published-but-undelivered messages. */
export const QOS1 = { windowMsgs: 64, maxUndeliveredMsgs: 1024 } as const;
/** Paced QoS 1: messages per second (timer every 1 ms). */
export const PACED = { ratePerSecond: 5000, windowMsgs: 64 } as const;

const LATENCY_SAMPLES = 1 << 20;

/** The CPU fields of a {@link GenResult} from a phase measurement. */
export function cpuFields(c: PhaseCpu): Pick<
  GenResult,
  "genCoreShare" | "brokerCoreShare" | "brokerCoreOtherShare" | "genCoreOtherShare"
> {
  return {
    genCoreShare: c.genCoreShare,
    brokerCoreShare: c.brokerCoreShare,
    brokerCoreOtherShare: c.brokerCoreOtherShare,
    genCoreOtherShare: c.genCoreOtherShare,
  };
}

function warmupMs(durationMs: number): number {
  return Math.min(1000, Math.max(200, Math.round(durationMs * 0.2)));
}

async function connectMany(
  port: number,
  ids: readonly string[],
  clean = true,
): Promise<GenClient[]> {
  return await Promise.all(ids.map((clientId) => GenClient.connect({ port, clientId, clean })));
}

function closeAll(clients: readonly GenClient[]): Promise<void[]> {
  return Promise.all(clients.map((c) => c.close()));
}

function runNotes(r: TimedRunResult): string[] {
  const notes: string[] = [];
  if (r.capped) notes.push("message cap reached");
  if (r.stalls > 0) notes.push(`${r.stalls} stall(s) of ${STALL_MS} ms without progress`);
  return notes;
}

function unexpectedCloses(clients: readonly GenClient[]): string[] {
  const n = clients.filter((c) => c.closed && !c.closedByUs).length;
  return n > 0 ? [`${n} connection(s) closed by the broker during the run`] : [];
}

/** QoS 0, 16 publishers on distinct topics → 1 subscriber on `bench/#`. */
export async function runFanIn(spec: GenSpec): Promise<GenResult> {
  const n = FANIN.publishers;
  const sub = await GenClient.connect({ port: spec.port, clientId: "bench-fanin-sub" });
  const pubs = await connectMany(
    spec.port,
    Array.from({ length: n }, (_, i) => `bench-fanin-pub-${i}`),
  );
  const all = [sub, ...pubs];
  try {
    await sub.subscribe("bench/#", 0);
    const tpls = pubs.map((_, i) => publishTemplate(`bench/fanin/${i}`, 0, PAYLOAD_BYTES));
    const tracker = new SeqTracker(n);
    const sent = new Array<number>(n).fill(0);
    const blocked = new Array<boolean>(n).fill(false);
    let sentTotal = 0;
    let rr = 0;
    const ctl: RunControl = { running: true, measuring: false, forgiven: 0 };
    const pump = (): void => {
      let budget = FANIN.windowMsgs - (sentTotal - tracker.passed - ctl.forgiven);
      // One pass over the publishers at most.
      for (let k = 0; k < n && budget > 0 && ctl.running; k++) {
        const i = rr;
        rr = (rr + 1) % n;
        if (blocked[i]) continue;
        const count = Math.min(FANIN.batchMsgs, budget);
        const buf = buildPublishBatch(tpls[i], count, i, sent[i], 0, performance.now());
        sent[i] += count;
        sentTotal += count;
        budget -= count;
        if (!pubs[i].socket.write(buf)) {
          blocked[i] = true;
          pubs[i].socket.once("drain", () => {
            blocked[i] = false;
            pump();
          });
        }
      }
    };
    sub.onPacket = (type, flags, buf, start, end) => {
      if (type !== PacketType.PUBLISH) return;
      const m = parsePublish(buf, flags, start, end);
      tracker.record(m.publisher, m.seq);
    };
    sub.onChunkEnd = oncePerTurn(pump);
    const r = await timedRun({
      ctl,
      durationMs: spec.durationMs,
      warmupMs: warmupMs(spec.durationMs),
      brokerPid: spec.brokerPid,
      pump,
      progress: () => tracker.unique,
      drained: () => tracker.passed >= sentTotal,
      outstanding: () => sentTotal - tracker.passed - ctl.forgiven,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      maxMessages: MAX_MESSAGES_PER_RUN,
      sent: () => sentTotal,
    });
    return {
      scenario: "fanin",
      metrics: { msgPerSec: r.perSecond, sent: sentTotal },
      ...cpuFields(r.cpu),
      lost: tracker.lost(sent),
      duplicates: tracker.duplicates,
      notes: [...unexpectedCloses(all), ...runNotes(r)],
    };
  } finally {
    await closeAll(all);
  }
}

/** QoS 0, 1 publisher → 100 subscribers of one topic; counts deliveries. */
export async function runFanOut(spec: GenSpec): Promise<GenResult> {
  const nSubs = FANOUT.subscribers;
  const pub = await GenClient.connect({ port: spec.port, clientId: "bench-fanout-pub" });
  const subs = await connectMany(
    spec.port,
    Array.from({ length: nSubs }, (_, i) => `bench-fanout-sub-${i}`),
  );
  const all = [pub, ...subs];
  try {
    await Promise.all(subs.map((s) => s.subscribe("bench/fanout", 0)));
    const tpl = publishTemplate("bench/fanout", 0, PAYLOAD_BYTES);
    const trackers = subs.map(() => new SeqTracker(1));
    let sent = 0;
    let delivered = 0;
    let passed = 0;
    let blocked = false;
    const ctl: RunControl = { running: true, measuring: false, forgiven: 0 };
    const pump = (): void => {
      if (!ctl.running || blocked) return;
      const outstandingMsgs = Math.ceil((sent * nSubs - passed - ctl.forgiven) / nSubs);
      const count = Math.min(FANOUT.batchMsgs, FANOUT.windowMsgs - outstandingMsgs);
      if (count <= 0) return;
      const buf = buildPublishBatch(tpl, count, 0, sent, 0, performance.now());
      sent += count;
      if (!pub.socket.write(buf)) {
        blocked = true;
        pub.socket.once("drain", () => {
          blocked = false;
          pump();
        });
      }
    };
    const schedulePump = oncePerTurn(pump);
    subs.forEach((s, i) => {
      const tracker = trackers[i];
      s.onPacket = (type, flags, buf, start, end) => {
        if (type !== PacketType.PUBLISH) return;
        const m = parsePublish(buf, flags, start, end);
        passed += tracker.record(m.publisher, m.seq);
        delivered++;
      };
      s.onChunkEnd = schedulePump;
    });
    const r = await timedRun({
      ctl,
      durationMs: spec.durationMs,
      warmupMs: warmupMs(spec.durationMs),
      brokerPid: spec.brokerPid,
      pump,
      progress: () => delivered,
      drained: () => passed >= sent * nSubs,
      outstanding: () => sent * nSubs - passed - ctl.forgiven,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      maxMessages: MAX_MESSAGES_PER_RUN / nSubs,
      sent: () => sent,
    });
    const lost = trackers.reduce((acc, t) => acc + t.lost([sent]), 0);
    const duplicates = trackers.reduce((acc, t) => acc + t.duplicates, 0);
    return {
      scenario: "fanout",
      metrics: { deliveriesPerSec: r.perSecond, sent },
      ...cpuFields(r.cpu),
      lost,
      duplicates,
      notes: [...unexpectedCloses(all), ...runNotes(r)],
    };
  } finally {
    await closeAll(all);
  }
}

/**
 * QoS 1 publisher → QoS 1 subscriber. `paced` false: as fast as a window of
 * 64 un-acked publishes allows; true: 5,000 msg/s. Latency is end to end
 * (publisher write → subscriber read), from the send time in the payload.
 */
export async function runQos1(spec: GenSpec, paced: boolean): Promise<GenResult> {
  const scenario = paced ? "paced" : "qos1";
  const pub = await GenClient.connect({ port: spec.port, clientId: `bench-${scenario}-pub` });
  const sub = await GenClient.connect({ port: spec.port, clientId: `bench-${scenario}-sub` });
  const all = [pub, sub];
  try {
    const topic = `bench/${scenario}`;
    await sub.subscribe(topic, 1);
    const tpl = publishTemplate(topic, 1, PAYLOAD_BYTES);
    const tracker = new SeqTracker(1);
    const latency = new LatencyRecorder(LATENCY_SAMPLES);
    let sent = 0;
    let acked = 0;
    let blocked = false;
    let windowLimitedTicks = 0;
    let startedAt = 0;
    const ctl: RunControl = { running: true, measuring: false, forgiven: 0 };
    const window = paced ? PACED.windowMsgs : QOS1.windowMsgs;
    let writes = 0;
    const send = (count: number): void => {
      writes++;
      const buf = buildPublishBatch(tpl, count, 0, sent, sent + 1, performance.now());
      sent += count;
      if (!pub.socket.write(buf)) {
        blocked = true;
        pub.socket.once("drain", () => {
          blocked = false;
        });
      }
    };
    const room = (): number =>
      Math.min(
        window - (sent - acked),
        QOS1.maxUndeliveredMsgs - (sent - tracker.passed - ctl.forgiven),
      );
    const pump = paced
      ? (): void => {
        if (!ctl.running || blocked) return;
        if (startedAt === 0) startedAt = performance.now();
        const due = Math.floor((performance.now() - startedAt) * PACED.ratePerSecond / 1000) -
          sent;
        const count = Math.min(due, room());
        if (due > count) windowLimitedTicks++;
        if (count > 0) send(count);
      }
      : (): void => {
        if (!ctl.running || blocked) return;
        const count = room();
        if (count > 0) send(count);
      };
    pub.onPacket = (type) => {
      if (type === PacketType.PUBACK) acked++;
    };
    if (!paced) pub.onChunkEnd = oncePerTurn(pump);
    let pendingAcks: number[] = [];
    sub.onPacket = (type, flags, buf, start, end) => {
      if (type !== PacketType.PUBLISH) return;
      const m = parsePublish(buf, flags, start, end);
      tracker.record(m.publisher, m.seq);
      if (ctl.measuring) latency.add(performance.now() - m.sentAtMs);
      if (m.qos > 0) pendingAcks.push(m.packetId);
    };
    sub.onChunkEnd = oncePerTurn(() => {
      if (pendingAcks.length === 0) return;
      const out = Buffer.allocUnsafe(4 * pendingAcks.length);
      for (let i = 0; i < pendingAcks.length; i++) {
        out[4 * i] = 0x40;
        out[4 * i + 1] = 0x02;
        out.writeUInt16BE(pendingAcks[i], 4 * i + 2);
      }
      pendingAcks = [];
      sub.socket.write(out);
    });
    // The paced publisher ticks every 1 ms (timedRun's own 2 ms timer is a fallback).
    const pacer = paced ? setInterval(pump, 1) : undefined;
    const r = await timedRun({
      ctl,
      durationMs: spec.durationMs,
      warmupMs: warmupMs(spec.durationMs),
      brokerPid: spec.brokerPid,
      pump,
      progress: () => tracker.unique,
      drained: () => tracker.passed >= sent && acked >= sent,
      outstanding: () => sent - tracker.passed - ctl.forgiven,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      maxMessages: MAX_MESSAGES_PER_RUN,
      sent: () => sent,
    }).finally(() => clearInterval(pacer));
    const l = latency.summary();
    const notes = [...unexpectedCloses(all), ...runNotes(r)];
    if (paced && windowLimitedTicks > 0) {
      notes.push(`pace held back by the window on ${windowLimitedTicks} ticks`);
    }
    if (acked < sent) notes.push(`${sent - acked} publishes never PUBACKed`);
    return {
      scenario,
      metrics: {
        msgPerSec: r.perSecond,
        p50Ms: l.p50,
        p99Ms: l.p99,
        maxMs: l.max,
        sent,
        // Publisher writes per message: pacing granularity (paced) or batching (qos1).
        msgsPerWrite: writes > 0 ? sent / writes : 0,
      },
      ...cpuFields(r.cpu),
      lost: tracker.lost([sent]),
      duplicates: tracker.duplicates,
      notes,
    };
  } finally {
    await closeAll(all);
  }
}
