/**
 * Transport benchmark (not a test): idle RSS per connection, connects per
 * server CPU-second, and raw packet throughput (fan-in and fan-out) through
 * the frame guard and write batching, without the MQTT codec.
 *
 * Run: `deno run -A --v8-flags=--expose-gc mqtt/transport/transportBench.ts [idleConnections]`
 * (`BENCH_KIND=tls|ws|wss` measures idle memory on that listener kind only).
 * The listener runs in this process; the clients run in a child process so
 * the two share no CPU accounting or heap.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import process from "node:process";
import { WebSocket } from "ws";
import { makeTestCerts } from "./testCerts.ts";
import { silentLogger } from "../../log/jsonLog.ts";
import { startListener } from "./listener.ts";
import { defaultTransportLimits, type ListenerKind, type MqttConnection } from "./types.ts";

const CONNECT = Uint8Array.of(0x10, 0x00);
const CONNACK = Uint8Array.of(0x20, 0x02, 0x00, 0x00);
/** A 30-byte QoS 0 PUBLISH: topic "bench/topic", 17-byte payload. */
const PUBLISH = Uint8Array.of(
  0x30,
  28,
  0,
  11,
  ...new TextEncoder().encode("bench/topic"),
  ...new Uint8Array(15).fill(7),
);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) { for (let i = 0; i < 3; i++) g(); }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("benchmark step timed out");
    await sleep(10);
  }
}

// ---------------------------------------------------------------- client role

async function clientIdle(
  port: number,
  count: number,
  kind: ListenerKind,
  caFile?: string,
): Promise<void> {
  const closers: (() => void)[] = [];
  const ca = caFile !== undefined ? Deno.readTextFileSync(caFile) : undefined;
  const one = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (kind === "ws" || kind === "wss") {
        const ws = new WebSocket(`${kind}://127.0.0.1:${port}/mqtt`, ["mqtt"], { ca });
        ws.on("open", () => {
          ws.send(CONNECT);
          resolve();
        });
        ws.on("error", reject);
        closers.push(() => ws.terminate());
        return;
      }
      const s = kind === "tls"
        ? tls.connect({ port, host: "127.0.0.1", ca }, () => {
          s.write(CONNECT);
          resolve();
        })
        : net.connect(port, "127.0.0.1", () => {
          s.write(CONNECT);
          resolve();
        });
      s.on("error", reject);
      closers.push(() => s.destroy());
    });
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, one));
  }
  console.log("ready");
  // Hold until stdin closes.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  for (const close of closers) close();
}

async function clientChurn(port: number, total: number, concurrency: number): Promise<void> {
  let started = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.write(CONNECT));
      s.once("data", () => {
        s.destroy();
        resolve();
      });
      s.on("error", () => resolve());
    });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < total) {
      started++;
      await one();
    }
  }));
}

async function clientPublish(
  port: number,
  connections: number,
  packetsEach: number,
): Promise<void> {
  const per = 2048;
  const chunk = new Uint8Array(PUBLISH.length * per);
  for (let i = 0; i < per; i++) chunk.set(PUBLISH, i * PUBLISH.length);
  await Promise.all(Array.from({ length: connections }, () =>
    new Promise<void>((resolve) => {
      const s = net.connect(port, "127.0.0.1", async () => {
        s.write(CONNECT);
        for (let sent = 0; sent < packetsEach; sent += per) {
          if (!s.write(chunk)) await new Promise((r) => s.once("drain", r));
        }
        s.end();
      });
      s.on("close", () => resolve());
    })));
}

async function clientSubscribe(
  port: number,
  connections: number,
  expectBytes: number,
): Promise<void> {
  await Promise.all(Array.from({ length: connections }, () =>
    new Promise<void>((resolve) => {
      let got = 0;
      const s = net.connect(port, "127.0.0.1", () => s.write(Uint8Array.of(0x82, 0x00)));
      s.on("data", (d: Uint8Array) => {
        got += d.length;
        if (got >= expectBytes) {
          s.destroy();
          resolve();
        }
      });
    })));
}

// ---------------------------------------------------------------- server role

function spawnClient(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "client", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function main(): Promise<void> {
  const idleCount = Number(Deno.args[0] ?? 10_000);
  // BENCH_KIND=tls|ws|wss measures only idle memory on that listener kind.
  const kind = (Deno.env.get("BENCH_KIND") ?? "tcp") as ListenerKind;
  const certs = kind === "tls" || kind === "wss" ? await makeTestCerts() : null;
  let open = 0;
  let connected = 0;
  let packets = 0;
  let addressChars = 0;
  let mode: "idle" | "churn" | "fanin" | "fanout" = "idle";
  const subscribers: MqttConnection[] = [];
  const limits = {
    ...defaultTransportLimits(),
    maxConnections: 1_000_000,
    maxConnectsPerSecond: 1_000_000,
  };
  const listener = await startListener(
    kind,
    {
      enable: true,
      host: "127.0.0.1",
      port: 0,
      ...(certs !== null ? { certFile: certs.serverCert, keyFile: certs.serverKey } : {}),
    },
    limits,
    (conn) => {
      open++;
      return {
        onPacket(p) {
          packets++;
          if (p[0] === 0x10) {
            conn.markConnected();
            // A session reads the peer address at CONNECT (for authentication).
            addressChars += conn.remoteAddress.length;
            connected++;
            if (mode === "churn") conn.write(CONNACK);
          } else if (p[0] === 0x82) {
            subscribers.push(conn);
          } else if (mode === "fanout") {
            for (let i = 0; i < subscribers.length; i++) subscribers[i].write(p);
          }
        },
        onFrameError() {},
        onDrain() {},
        onClose() {
          open--;
        },
      };
    },
    silentLogger,
  );
  const port = listener.port;
  const results: Record<string, number | string> = { deno: Deno.version.deno };

  // 1. Idle RSS per connection.
  gc();
  await sleep(200);
  const rssBefore = Deno.memoryUsage().rss;
  const heapBefore = Deno.memoryUsage().heapUsed;
  const idle = spawnClient([
    "idle",
    String(port),
    String(idleCount),
    kind,
    ...(certs !== null ? [certs.caCert] : []),
  ]);
  const reader = idle.stdout.getReader();
  await reader.read(); // "ready"
  await waitUntil(() => connected >= idleCount, 60_000);
  await sleep(500);
  gc();
  await sleep(500);
  const rssAfter = Deno.memoryUsage().rss;
  results.idleConnections = idleCount;
  results.rssPerIdleConnectionBytes = Math.round((rssAfter - rssBefore) / idleCount);
  results.jsHeapPerIdleConnectionBytes = Math.round(
    (Deno.memoryUsage().heapUsed - heapBefore) / idleCount,
  );
  results.listener = kind;
  if (Deno.env.get("BENCH_ONLY_IDLE") || kind !== "tcp") {
    console.log(JSON.stringify(results));
    await certs?.remove();
    Deno.exit(0);
  }
  await idle.stdin.close();
  reader.releaseLock();
  await idle.stdout.cancel();
  await idle.status;
  await waitUntil(() => open === 0, 30_000);

  // 2. Connects per server CPU-second (connect, CONNECT, CONNACK, close).
  mode = "churn";
  const churnTotal = 20_000;
  connected = 0;
  let cpu0 = cpuMs();
  let t0 = performance.now();
  const churn = spawnClient(["churn", String(port), String(churnTotal), "100"]);
  await churn.stdin.close();
  await churn.stdout.cancel();
  await churn.status;
  await waitUntil(() => open === 0, 30_000);
  let cpu = cpuMs() - cpu0;
  results.churnConnects = connected;
  results.connectsPerServerCpuSecond = Math.round(connected / (cpu / 1000));
  results.connectsPerWallSecond = Math.round(connected / ((performance.now() - t0) / 1000));

  // 3. Fan-in: 4 publishers, 30-byte packets, counted after framing.
  mode = "fanin";
  const each = 2_000_000;
  packets = 0;
  cpu0 = cpuMs();
  t0 = performance.now();
  const pub = spawnClient(["publish", String(port), "4", String(each)]);
  await pub.stdin.close();
  await pub.stdout.cancel();
  await pub.status;
  await waitUntil(() => open === 0, 60_000);
  let wallS = (performance.now() - t0) / 1000;
  cpu = cpuMs() - cpu0;
  results.faninPackets = packets;
  results.faninPacketsPerSecond = Math.round(packets / wallS);
  results.faninPacketsPerServerCpuSecond = Math.round(packets / (cpu / 1000));

  // 4. Fan-out: 1 publisher → 10 subscribers, each packet written to all.
  mode = "fanout";
  const subs = 10;
  const fanPackets = 400_000;
  const sub = spawnClient([
    "subscribe",
    String(port),
    String(subs),
    String(fanPackets * PUBLISH.length),
  ]);
  await waitUntil(() => subscribers.length === subs, 10_000);
  packets = 0;
  cpu0 = cpuMs();
  t0 = performance.now();
  const pub2 = spawnClient(["publish", String(port), "1", String(fanPackets)]);
  await pub2.stdin.close();
  await pub2.stdout.cancel();
  await sub.stdin.close();
  await sub.stdout.cancel();
  await Promise.all([pub2.status, sub.status]);
  wallS = (performance.now() - t0) / 1000;
  cpu = cpuMs() - cpu0;
  results.fanoutDeliveries = fanPackets * subs;
  results.fanoutDeliveriesPerSecond = Math.round((fanPackets * subs) / wallS);
  results.fanoutDeliveriesPerServerCpuSecond = Math.round((fanPackets * subs) / (cpu / 1000));

  await listener.close();
  results.addressChars = addressChars;
  console.log(JSON.stringify(results, null, 2));
}

if (Deno.args[0] === "client") {
  const [, role, port, a, b, c] = Deno.args;
  if (role === "idle") await clientIdle(Number(port), Number(a), b as ListenerKind, c);
  else if (role === "churn") await clientChurn(Number(port), Number(a), Number(b));
  else if (role === "publish") await clientPublish(Number(port), Number(a), Number(b));
  else if (role === "subscribe") await clientSubscribe(Number(port), Number(a), Number(b));
  Deno.exit(0);
} else if (import.meta.main) {
  await main();
}
