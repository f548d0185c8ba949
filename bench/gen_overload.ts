/**
 * Overload scenario: a subscriber that stops reading (QoS 1 subscription,
 * socket paused) while a publisher floods its topic with QoS 0 as fast as TCP
 * lets it. The broker must apply backpressure or drop per its policy: its RSS
 * growth is sampled every 100 ms and compared with the bytes published. An
 * unbounded queue shows up as growth close to the flood size, or as a crash.
 *
 * @module
 */
import { GenClient, sleep } from "./gen_client.ts";
import { cpuFields, PAYLOAD_BYTES } from "./gen_throughput.ts";
import type { GenResult, GenSpec } from "./gen_types.ts";
import { isAlive, PhaseMeter, readRssBytes } from "./procstat.ts";
import { buildPublishBatch, publishTemplate } from "./wire.ts";

/** Knobs of the overload scenario. */
export const OVERLOAD = {
  /** Messages per write of the flooding publisher. */
  batchMsgs: 256,
  /** Cap on messages flooded per run. */
  maxMessages: 20_000_000,
  /** RSS sampling period. */
  sampleMs: 100,
} as const;

/** Resolve true on the socket's 'drain', false after `ms`; leaves no listener or timer. */
function waitDrain(client: GenClient, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const onDrain = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.socket.off("drain", onDrain);
      resolve(false);
    }, Math.max(1, ms));
    client.socket.once("drain", onDrain);
  });
}

/** Flood a non-reading subscriber and report the broker's peak RSS growth. */
export async function runOverload(spec: GenSpec): Promise<GenResult> {
  const notes: string[] = [];
  const topic = "bench/overload";
  const sub = await GenClient.connect({ port: spec.port, clientId: "bench-overload-sub" });
  const pub = await GenClient.connect({ port: spec.port, clientId: "bench-overload-pub" });
  const tpl = publishTemplate(topic, 0, PAYLOAD_BYTES);
  let sent = 0;
  let running = true;
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    await sub.subscribe(topic, 1);
    sub.socket.pause(); // the slow consumer: never reads again
    await sleep(200);
    const rssBefore = readRssBytes(spec.brokerPid);
    let rssPeak = rssBefore;
    let brokerDied = false;
    sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, readRssBytes(spec.brokerPid));
      } catch {
        brokerDied = true;
      }
    }, OVERLOAD.sampleMs);
    const meter = new PhaseMeter(spec.brokerPid);
    meter.start();
    const t0 = performance.now();
    const deadline = t0 + spec.durationMs;
    // Open loop, paced only by TCP: write until the socket buffer is full, await 'drain'.
    while (running && performance.now() < deadline && sent < OVERLOAD.maxMessages) {
      if (pub.closed) break;
      const buf = buildPublishBatch(tpl, OVERLOAD.batchMsgs, 0, sent, 0, performance.now());
      sent += OVERLOAD.batchMsgs;
      if (!pub.socket.write(buf)) {
        if (!await waitDrain(pub, deadline - performance.now())) break;
      }
    }
    running = false;
    const floodMs = performance.now() - t0;
    const cpu = meter.stop();
    await sleep(300);
    if (!brokerDied) rssPeak = Math.max(rssPeak, readRssBytes(spec.brokerPid));
    const alive = isAlive(spec.brokerPid);
    if (!alive) notes.push("broker died under overload");
    if (sub.closed) notes.push("broker disconnected the slow subscriber");
    if (pub.closed) notes.push("broker disconnected the flooding publisher");
    const floodBytes = sent * tpl.bytes.length;
    notes.push(
      `flooded ${(floodBytes / 1048576).toFixed(0)} MB, broker RSS grew ` +
        `${((rssPeak - rssBefore) / 1048576).toFixed(1)} MB at peak`,
    );
    return {
      scenario: "overload",
      metrics: {
        rssGrowthBytes: rssPeak - rssBefore,
        floodBytes,
        floodMsgPerSec: sent / (floodMs / 1000),
        growthShareOfFlood: floodBytes > 0 ? (rssPeak - rssBefore) / floodBytes : 0,
        brokerAlive: alive ? 1 : 0,
        slowSubscriberDisconnected: sub.closed ? 1 : 0,
      },
      ...cpuFields(cpu),
      lost: 0,
      duplicates: 0,
      notes,
    };
  } finally {
    running = false;
    clearInterval(sampler);
    sub.destroy();
    pub.destroy();
  }
}
