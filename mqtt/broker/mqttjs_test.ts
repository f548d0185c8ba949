/**
 * Socket-level interop: MQTT.js (3.1.1 and 5.0) against the broker behind
 * the real TCP listener.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import mqtt from "mqtt";
import { startListener } from "../transport/listener.ts";
import { defaultTransportLimits } from "../transport/types.ts";
import { brokerOverStores, Harness } from "./testHarness.ts";
import { defaultLocalStoresConfig, openLocalStores } from "../../stores/mod.ts";
import { silentLogger } from "../../log/jsonLog.ts";

async function withBroker(fn: (url: string, h: Harness) => Promise<void>): Promise<void> {
  const h = new Harness();
  const l = await startListener(
    "tcp",
    { enable: true, host: "127.0.0.1", port: 0 },
    defaultTransportLimits(),
    h.broker.handler,
    silentLogger,
  );
  try {
    await fn(`mqtt://127.0.0.1:${l.port}`, h);
  } finally {
    await h.broker.close();
    await l.close();
  }
}

function connect(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 2000, ...opts });
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
}

function nextMessage(c: mqtt.MqttClient): Promise<[string, string, mqtt.IPublishPacket]> {
  return new Promise((resolve) => {
    c.once("message", (topic, payload, packet) => resolve([topic, payload.toString(), packet]));
  });
}

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: QoS 0/1/2 pub/sub, retained, will over TCP`, async () => {
    await withBroker(async (url) => {
      const sub = await connect(url, { protocolVersion, clientId: "sub" });
      const pub = await connect(url, {
        protocolVersion,
        clientId: "pub",
        will: { topic: "will/pub", payload: Buffer.from("died"), qos: 1, retain: false },
      });
      await sub.subscribeAsync("t/#", { qos: 2 });
      await sub.subscribeAsync("will/#", { qos: 1 });
      for (const qos of [0, 1, 2] as const) {
        const got = nextMessage(sub);
        await pub.publishAsync("t/x", `q${qos}`, { qos });
        const [topic, payload, packet] = await got;
        assertEquals([topic, payload, packet.qos], ["t/x", `q${qos}`, qos]);
      }
      await pub.publishAsync("t/retained", "r", { qos: 1, retain: true });
      const late = await connect(url, { protocolVersion, clientId: "late" });
      const retained = nextMessage(late);
      await late.subscribeAsync("t/retained", { qos: 1 });
      const [, payload, packet] = await retained;
      assertEquals([payload, packet.retain], ["r", true]);
      const will = nextMessage(sub);
      pub.stream.destroy();
      const [wt, wp] = await will;
      assertEquals([wt, wp], ["will/pub", "died"]);
      pub.end(true);
      await sub.endAsync();
      await late.endAsync();
    });
  });
}

Deno.test("MQTT.js v5: persistent session survives reconnect with queued QoS 1", async () => {
  await withBroker(async (url) => {
    const o = {
      protocolVersion: 5 as const,
      clientId: "ps",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const a = await connect(url, o);
    await a.subscribeAsync("ps/t", { qos: 1 });
    await a.endAsync();
    const pub = await connect(url, { protocolVersion: 5, clientId: "pp" });
    await pub.publishAsync("ps/t", "queued", { qos: 1 });
    await pub.endAsync();
    const b = mqtt.connect(url, { ...o, reconnectPeriod: 0 });
    const [topic, payload] = await new Promise<[string, string]>((resolve) => {
      b.on("message", (t, p) => resolve([t, p.toString()]));
    });
    assertEquals([topic, payload], ["ps/t", "queued"]);
    assert(b.connected);
    await b.endAsync();
  });
});

// MQTT.js does not hold back publishes for the server's Receive Maximum. QoS 1 acks
// that wait for inbox commits pause reading instead of DISCONNECT 0x93; QoS 2 flows
// the client holds open beyond the Receive Maximum are a protocol error (Paho's
// flow-control test expects 0x93), so the QoS 2 part stays within it.
Deno.test("MQTT.js v5: a burst of 300 QoS 1 (+30 QoS 2) publishes to a persistent subscriber (SQLite) is delivered without disconnect", async () => {
  const dir = await Deno.makeTempDir();
  const stores = await openLocalStores(dir, defaultLocalStoresConfig());
  const broker = brokerOverStores(stores);
  const l = await startListener(
    "tcp",
    { enable: true, host: "127.0.0.1", port: 0 },
    defaultTransportLimits(),
    broker.handler,
    silentLogger,
  );
  try {
    const url = `mqtt://127.0.0.1:${l.port}`;
    const sub = await connect(url, {
      protocolVersion: 5,
      clientId: "burst-sub",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await sub.subscribeAsync("burst/#", { qos: 2 });
    let received = 0;
    const all = new Promise<void>((resolve) => {
      sub.on("message", () => {
        if (++received === 330) resolve();
      });
    });
    const pub = await connect(url, { protocolVersion: 5, clientId: "burst-pub" });
    let closed = false;
    pub.on("close", () => closed = true);
    await Promise.all([
      ...Array.from({ length: 300 }, (_, i) => pub.publishAsync(`burst/${i}`, `m${i}`, { qos: 1 })),
      ...Array.from(
        { length: 30 },
        (_, i) => pub.publishAsync(`burst/q2/${i}`, `m${i}`, { qos: 2 }),
      ),
    ]);
    await all;
    assert(!closed, "publisher must not be disconnected");
    assertEquals(received, 330);
    await pub.endAsync();
    await sub.endAsync();
  } finally {
    await broker.close();
    await l.close();
    await stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});
