/**
 * Connection scenarios of the load generator:
 * - `idle`: open 10,000 connections (CONNECT/CONNACK, then silence) from
 *   several 127.0.0.x source addresses; broker RSS growth / connections.
 * - `connects`: CONNECT → CONNACK → DISCONNECT in a loop from 32 concurrent
 *   workers; completed connects per second of broker CPU (utime + stime).
 *
 * @module
 */
import { GenClient, sleep } from "./gen_client.ts";
import type { GenResult, GenSpec } from "./gen_types.ts";
import { PhaseMeter, readRssBytes } from "./procstat.ts";
import { cpuFields } from "./gen_throughput.ts";

/** Idle scenario knobs. */
export const IDLE = {
  connections: 10_000,
  /** Connections being opened at once. */
  concurrency: 200,
  /** Connections per source address (127.0.0.2, .3, ...). */
  perSourceAddress: 2000,
  /** Give up opening after this long. */
  rampTimeoutMs: 60_000,
  /** Wait after the ramp before reading RSS, so the broker settles. */
  settleMs: 1000,
} as const;

/** Connect-rate scenario knobs. */
export const CONNECTS = {
  concurrency: 32,
  /** Source addresses rotated over (127.0.0.10 ...), against TIME_WAIT exhaustion. */
  sourceAddresses: 16,
  maxConnects: 1_000_000,
  /** Sockets waiting for the broker's close; beyond this the oldest is destroyed. */
  maxClosing: 4096,
} as const;

/** Open {@link IDLE}.connections idle connections and measure broker RSS per connection. */
export async function runIdle(spec: GenSpec): Promise<GenResult> {
  const notes: string[] = [];
  const clients: GenClient[] = [];
  let failures = 0;
  let firstError = "";
  await sleep(300);
  const rssBefore = readRssBytes(spec.brokerPid);
  const meter = new PhaseMeter(spec.brokerPid);
  meter.start();
  const t0 = performance.now();
  const deadline = t0 + IDLE.rampTimeoutMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < IDLE.connections && performance.now() < deadline) {
      const i = next++;
      const localAddress = `127.0.0.${2 + Math.floor(i / IDLE.perSourceAddress)}`;
      try {
        clients.push(
          await GenClient.connect({
            port: spec.port,
            clientId: `bench-idle-${i}`,
            localAddress,
            timeoutMs: 10_000,
          }),
        );
      } catch (err) {
        failures++;
        if (firstError === "") firstError = err instanceof Error ? err.message : String(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: IDLE.concurrency }, worker));
    const rampMs = performance.now() - t0;
    const cpu = meter.stop();
    await sleep(IDLE.settleMs);
    const rssAfter = readRssBytes(spec.brokerPid);
    const open = clients.filter((c) => !c.closed).length;
    if (failures > 0) notes.push(`${failures} connects failed (first: ${firstError})`);
    if (open < clients.length) notes.push(`${clients.length - open} closed by the broker`);
    return {
      scenario: "idle",
      metrics: {
        bytesPerConn: open > 0 ? (rssAfter - rssBefore) / open : NaN,
        connections: open,
        rssBeforeBytes: rssBefore,
        rssAfterBytes: rssAfter,
        rampConnPerSec: clients.length / (rampMs / 1000),
      },
      ...cpuFields(cpu),
      lost: 0,
      duplicates: 0,
      notes,
    };
  } finally {
    // Close in slices so 10k DISCONNECTs do not all land in one turn.
    for (let i = 0; i < clients.length; i += 500) {
      await Promise.all(clients.slice(i, i + 500).map((c) => c.close(2000)));
    }
  }
}

/** CONNECT/CONNACK/DISCONNECT loop; completed connects per broker CPU-second. */
export async function runConnects(spec: GenSpec): Promise<GenResult> {
  const notes: string[] = [];
  const closing = new Set<GenClient>();
  let completed = 0;
  let failures = 0;
  let firstError = "";
  let started = 0;
  const meter = new PhaseMeter(spec.brokerPid);
  meter.start();
  const t0 = performance.now();
  const deadline = t0 + spec.durationMs;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < deadline && started < CONNECTS.maxConnects) {
      const i = started++;
      try {
        const c = await GenClient.connect({
          port: spec.port,
          clientId: `bench-conn-${w}-${i}`,
          localAddress: `127.0.0.${10 + (i % CONNECTS.sourceAddresses)}`,
          timeoutMs: 5000,
        });
        completed++;
        closing.add(c);
        c.socket.once("close", () => closing.delete(c));
        void c.close(5000);
        if (closing.size > CONNECTS.maxClosing) {
          const oldest = closing.values().next().value;
          if (oldest !== undefined) {
            oldest.destroy();
            closing.delete(oldest);
          }
        }
      } catch (err) {
        failures++;
        if (firstError === "") firstError = err instanceof Error ? err.message : String(err);
        if (failures > 1000) break;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: CONNECTS.concurrency }, (_, w) => worker(w)));
    const wallMs = performance.now() - t0;
    // Let the broker finish tearing down, so its CPU for the closes is counted.
    const closeDeadline = performance.now() + 3000;
    while (closing.size > 0 && performance.now() < closeDeadline) await sleep(10);
    await sleep(100);
    const cpu = meter.stop();
    if (failures > 0) notes.push(`${failures} connects failed (first: ${firstError})`);
    return {
      scenario: "connects",
      metrics: {
        connectsPerCpuSec: cpu.brokerCpuSeconds > 0 ? completed / cpu.brokerCpuSeconds : NaN,
        connectsPerSec: completed / (wallMs / 1000),
        connects: completed,
        brokerCpuSeconds: cpu.brokerCpuSeconds,
      },
      ...cpuFields(cpu),
      lost: 0,
      duplicates: 0,
      notes,
    };
  } finally {
    for (const c of closing) c.destroy();
  }
}
