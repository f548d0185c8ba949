/**
 * Persistent-session scenario: a `cleanSession=false` subscriber subscribes at
 * QoS 1 and goes offline; a QoS 1 publisher (window of 64 un-acked) fills its
 * queue for the run's duration (messages/s in, counted by PUBACK); then the
 * subscriber reconnects and drains the queue, acking each message
 * (messages/s out). Loss = acknowledged publishes never delivered.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { GenClient, sleep } from "./gen_client.ts";
import { oncePerTurn, SeqTracker } from "./gen_loop.ts";
import type { GenResult, GenSpec } from "./gen_types.ts";
import { CpuMeter, type PhaseCpu, PhaseMeter } from "./procstat.ts";
import {
  buildPublishBatch,
  type PacketHandler,
  PacketType,
  parsePublish,
  publishTemplate,
} from "./wire.ts";
import { cpuFields, PAYLOAD_BYTES } from "./gen_throughput.ts";

/** Window of un-acked publishes, caps on count and on the drain's duration. */
export const PERSISTENT = {
  windowMsgs: 64,
  maxMessages: 1_000_000,
  /** The drain gives up when nothing arrived for this long. */
  drainIdleTimeoutMs: 5000,
  /** And in any case after this long. */
  drainMaxMs: 120_000,
  /** Longest wait for the last PUBACKs after publishing stopped. */
  ackTimeoutMs: 10_000,
} as const;

const SUB_ID = "bench-persist-sub";
const TOPIC = "bench/persist";

/** Run the persistent-session scenario. */
export async function runPersistent(spec: GenSpec): Promise<GenResult> {
  const notes: string[] = [];
  // Start from an empty session: clean connect, then the persistent one.
  await (await GenClient.connect({ port: spec.port, clientId: SUB_ID, clean: true })).close();
  const offline = await GenClient.connect({ port: spec.port, clientId: SUB_ID, clean: false });
  await offline.subscribe(TOPIC, 1);
  await offline.close();
  await sleep(100);

  // Phase 1: publish into the offline session.
  const pub = await GenClient.connect({ port: spec.port, clientId: "bench-persist-pub" });
  const tpl = publishTemplate(TOPIC, 1, PAYLOAD_BYTES);
  let sent = 0;
  let acked = 0;
  let lastAckAt = 0;
  let blocked = false;
  let running = true;
  const pump = (): void => {
    if (!running || blocked) return;
    const count = Math.min(PERSISTENT.windowMsgs - (sent - acked), PERSISTENT.maxMessages - sent);
    if (count <= 0) return;
    const buf = buildPublishBatch(tpl, count, 0, sent, sent + 1, performance.now());
    sent += count;
    if (!pub.socket.write(buf)) {
      blocked = true;
      pub.socket.once("drain", () => {
        blocked = false;
        pump();
      });
    }
  };
  pub.onPacket = (type) => {
    if (type === PacketType.PUBACK) {
      acked++;
      lastAckAt = performance.now();
    }
  };
  pub.onChunkEnd = oncePerTurn(pump);
  const meter = new PhaseMeter(spec.brokerPid);
  const timer = setInterval(pump, 2);
  let inPerSec = 0;
  let cpu: PhaseCpu | undefined;
  try {
    meter.start();
    const t0 = performance.now();
    pump();
    await sleep(spec.durationMs);
    running = false;
    const ackDeadline = performance.now() + PERSISTENT.ackTimeoutMs;
    while (acked < sent && performance.now() < ackDeadline) await sleep(5);
    cpu = meter.stop();
    inPerSec = acked / Math.max(1e-3, (lastAckAt - t0) / 1000);
    if (acked < sent) notes.push(`${sent - acked} publishes never PUBACKed`);
    if (sent >= PERSISTENT.maxMessages) notes.push("message cap reached");
  } finally {
    clearInterval(timer);
    running = false;
    await pub.close();
  }

  // Phase 2: the subscriber comes back and drains its queue.
  const tracker = new SeqTracker(1);
  let lastMsgAt = 0;
  let pendingAcks: number[] = [];
  const brokerOut = new CpuMeter(spec.brokerPid);
  brokerOut.start();
  const t0 = performance.now();
  let sub: GenClient | undefined;
  let outPerSec = 0;
  try {
    const onPacket: PacketHandler = (type, flags, buf, start, end) => {
      if (type !== PacketType.PUBLISH) return;
      const m = parsePublish(buf, flags, start, end);
      tracker.record(m.publisher, m.seq);
      lastMsgAt = performance.now();
      if (m.qos > 0) pendingAcks.push(m.packetId);
    };
    const onChunkEnd = oncePerTurn(() => {
      if (pendingAcks.length === 0 || sub === undefined) return;
      const out = Buffer.allocUnsafe(4 * pendingAcks.length);
      for (let i = 0; i < pendingAcks.length; i++) {
        out[4 * i] = 0x40;
        out[4 * i + 1] = 0x02;
        out.writeUInt16BE(pendingAcks[i], 4 * i + 2);
      }
      pendingAcks = [];
      sub.socket.write(out);
    });
    sub = await GenClient.connect({
      port: spec.port,
      clientId: SUB_ID,
      clean: false,
      onPacket,
      onChunkEnd,
    });
    onChunkEnd();
    const hardDeadline = t0 + PERSISTENT.drainMaxMs;
    for (;;) {
      const now = performance.now();
      if (tracker.unique >= acked || now > hardDeadline) break;
      if (now - Math.max(lastMsgAt, t0) > PERSISTENT.drainIdleTimeoutMs) break;
      await sleep(5);
    }
    outPerSec = tracker.unique / Math.max(1e-3, (lastMsgAt - t0) / 1000);
    if (tracker.unique < acked) {
      notes.push(`drain stopped with ${acked - tracker.unique} of ${acked} messages missing`);
    }
  } finally {
    await sub?.close();
  }
  const outBroker = brokerOut.stop();
  return {
    scenario: "persistent",
    metrics: {
      inMsgPerSec: inPerSec,
      outMsgPerSec: outPerSec,
      messages: acked,
      outBrokerCoreShare: outBroker.coreShare,
    },
    ...cpuFields(cpu),
    lost: tracker.lost([acked]),
    duplicates: tracker.duplicates,
    notes,
  };
}
