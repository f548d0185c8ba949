/**
 * The broker over the real local stores (SQLite): persistent sessions,
 * queued QoS 1/2 messages, in-flight state and retained messages survive a
 * broker restart.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { defaultLocalStoresConfig, type LocalStores, openLocalStores } from "../../stores/mod.ts";
import { inboxReceiverId } from "../../stores/dist/distStore.ts";
import type { MqttBroker } from "./broker.ts";
import { brokerOverStores, type ClientHost, settle, TestClient, text } from "./testHarness.ts";

async function start(
  dir: string,
): Promise<{ stores: LocalStores; broker: MqttBroker; h: ClientHost }> {
  const stores = await openLocalStores(dir, defaultLocalStoresConfig());
  const broker = brokerOverStores(stores);
  let id = 100;
  const h: ClientHost = { broker, nextId: () => ++id };
  return { stores, broker, h };
}

async function stop(s: { stores: LocalStores; broker: MqttBroker }): Promise<void> {
  await s.broker.close();
  await settle();
  await s.stores.close();
}

async function connected(h: ClientHost, id: string, v: 4 | 5, opts = {}): Promise<TestClient> {
  const c = new TestClient(h, v);
  const ack = await c.connect(id, opts);
  assertEquals(v === 5 ? ack.reasonCode : ack.returnCode, 0);
  return c;
}

for (const v of [4, 5] as const) {
  Deno.test(`v${v}: persistent session, queued messages, PUBREL state and retained survive a restart (SQLite)`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const opts = v === 5
        ? { clean: false, properties: { sessionExpiryInterval: 3600 } }
        : { clean: false };
      let s = await start(dir);
      const sub = await connected(s.h, "p", v, opts);
      await sub.subscribe("q/#", 2);
      sub.disconnect();
      await settle();
      const pub = await connected(s.h, "pub", v);
      for (let i = 0; i < 5; i++) {
        pub.publish(`q/${i}`, `m${i}`, { qos: 1 });
        await pub.next("puback");
      }
      pub.publish("q/r", "kept", { qos: 1, retain: true });
      await pub.next("puback");
      const id = pub.publish("q/2q", "two", { qos: 2 });
      await pub.next("pubrec");
      pub.send({ cmd: "pubrel", messageId: id });
      await pub.next("pubcomp");
      await stop(s);

      s = await start(dir);
      const again = new TestClient(s.h, v);
      const ack = await again.connect("p", opts);
      assert(ack.sessionPresent);
      const got = [];
      for (let i = 0; i < 7; i++) got.push(await again.next("publish"));
      // queued before the restart: may have been sent by the previous run, so DUP=1
      assert(got.every((m) => m.cmd === "publish" && m.dup));
      assertEquals(got.map(text), ["m0", "m1", "m2", "m3", "m4", "kept", "two"]);
      const two = got[6];
      assert(two.cmd === "publish");
      again.send({ cmd: "pubrec", messageId: two.messageId });
      await again.next("pubrel");
      for (const m of got.slice(0, 6)) {
        if (m.cmd === "publish") again.send({ cmd: "puback", messageId: m.messageId });
      }
      await settle();
      again.conn.clientClose();
      await settle();
      await stop(s);

      s = await start(dir);
      const third = new TestClient(s.h, v);
      await third.connect("p", opts);
      const rel = await third.next("pubrel");
      assert(rel.cmd === "pubrel" && two.cmd === "publish" && rel.messageId === two.messageId);
      third.send({ cmd: "pubcomp", messageId: rel.messageId });
      assertEquals(await third.drain("publish"), []);
      const fresh = await connected(s.h, "fresh", v);
      await fresh.subscribe("q/r", 1);
      assertEquals(text(await fresh.next("publish")), "kept");
      await settle();
      await stop(s);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("routes of a persistent session deliver after a restart, online and offline (SQLite)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const opts = { clean: false };
    let s = await start(dir);
    const sub = await connected(s.h, "p", 4, opts);
    await sub.subscribe("r/#", 1);
    sub.disconnect();
    await settle();
    await stop(s);
    s = await start(dir);
    const routes = s.stores.dist.match("default", "r/x").normal.map((r) => r.receiverId);
    assertEquals(
      routes,
      [inboxReceiverId("default", "p")],
      "dist store must keep receiver ids intact across a reopen",
    );
    const again = await connected(s.h, "p", 4, opts);
    const pub = await connected(s.h, "pub", 4);
    pub.publish("r/x", "online", { qos: 1 });
    const online = await again.next("publish");
    assertEquals(text(online), "online");
    again.send({ cmd: "puback", messageId: online.messageId });
    await settle();
    again.disconnect();
    await settle();
    pub.publish("r/x", "offline", { qos: 1 });
    await pub.next("puback");
    const third = await connected(s.h, "p", 4, opts);
    assertEquals(text(await third.next("publish")), "offline");
    await settle();
    await stop(s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
