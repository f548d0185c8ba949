/**
 * End to end: broker restarts (graceful and kill -9) with QoS 1/2 state in flight in
 * both directions, and the server-sent DISCONNECT on shutdown.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import { type BrokerHandle, IS_MOSQUITTO, sleep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connackOf,
  connectClient,
  Inbox,
  inboxOf,
  uniqueId,
  waitEvent,
} from "./harness/clients.ts";
import { RawClient } from "./harness/raw.ts";

/** Restart b on its data dir and ports, by SIGTERM or SIGKILL. */
async function restart(b: BrokerHandle, how: "graceful" | "kill9"): Promise<BrokerHandle> {
  if (how === "graceful") {
    const code = await b.stop({ keepData: true });
    assertEquals(code, 0, "exit code after SIGTERM");
  } else {
    if (IS_MOSQUITTO) await sleep(2500); // mosquitto persists on a timer only
    await b.kill9();
  }
  return await startBroker({ dataDir: b.dataDir, tcpPort: b.tcpPort, wsPort: b.wsPort });
}

/** A v3.1.1 raw client with a persistent session (clean=false). */
function rawPersistent(b: BrokerHandle, clientId: string) {
  return RawClient.connect(b.tcpPort, { clientId, protocolVersion: 4, clean: false });
}

/** {@link rawPersistent}, subscribed to topic at qos (SUBACK received). */
async function rawSubscriber(b: BrokerHandle, clientId: string, topic: string, qos: 1 | 2) {
  const s = await rawPersistent(b, clientId);
  s.client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos }] });
  await s.client.expect("suback");
  return s;
}

async function withRestarts(
  fn: (
    first: BrokerHandle,
    restartIt: (how: "graceful" | "kill9") => Promise<BrokerHandle>,
  ) => Promise<void>,
) {
  const first = await startBroker();
  const all: BrokerHandle[] = [first];
  let current = first;
  try {
    await fn(first, async (how) => {
      current = await restart(current, how);
      all.push(current);
      return current;
    });
  } finally {
    for (const b of all) if (b.alive()) await b.stop({ keepData: true });
    await Deno.remove(first.dataDir, { recursive: true }).catch(() => {});
  }
}

for (const how of ["graceful", "kill9"] as const) {
  // mosquitto does not autosave outgoing in-flight state, so its kill -9 variants are skipped.
  const outIgnore = IS_MOSQUITTO && how === "kill9";
  Deno.test({
    name: `${how} restart: an unacknowledged outgoing QoS 1 message is redelivered with DUP`,
    ignore: outIgnore,
  }, async () => {
    await withRestarts(async (b, restartIt) => {
      const id = uniqueId("out1");
      const topic = `r1/${id}`;
      const s1 = await rawSubscriber(b, id, topic, 1);
      const pub = await connectClient(b, { protocolVersion: 4 });
      await pub.publishAsync(topic, "in-flight", { qos: 1 });
      const first = await s1.client.expect("publish");
      await closeClient(pub);
      s1.client.close();
      const b2 = await restartIt(how);
      const s2 = await rawPersistent(b2, id);
      try {
        assertEquals(s2.connack.sessionPresent, true);
        const again = await s2.client.expect("publish", 5000);
        assertEquals([String(again.payload), again.dup, again.messageId], [
          "in-flight",
          true,
          first.messageId,
        ]);
        s2.client.sendPacket({ cmd: "puback", messageId: again.messageId });
      } finally {
        s2.client.close();
      }
    });
  });

  Deno.test({
    name: `${how} restart: after PUBREC the broker resends PUBREL for an outgoing QoS 2 message`,
    ignore: outIgnore,
  }, async () => {
    await withRestarts(async (b, restartIt) => {
      const id = uniqueId("out2");
      const topic = `r2/${id}`;
      const s1 = await rawSubscriber(b, id, topic, 2);
      const pub = await connectClient(b, { protocolVersion: 4 });
      await pub.publishAsync(topic, "two", { qos: 2 });
      const p = await s1.client.expect("publish");
      s1.client.sendPacket({ cmd: "pubrec", messageId: p.messageId });
      await s1.client.expect("pubrel");
      await closeClient(pub);
      s1.client.close();
      const b2 = await restartIt(how);
      const s2 = await rawPersistent(b2, id);
      try {
        const rel = await s2.client.expect("pubrel", 5000);
        assertEquals(rel.messageId, p.messageId);
        s2.client.sendPacket({ cmd: "pubcomp", messageId: p.messageId });
        await sleep(300);
        assertEquals(
          s2.client.pending().filter((x) => x.cmd === "publish").length,
          0,
          "no second PUBLISH",
        );
      } finally {
        s2.client.close();
      }
    });
  });

  Deno.test(`${how} restart: an incoming QoS 2 message acknowledged with PUBREC is delivered exactly once`, async () => {
    await withRestarts(async (b, restartIt) => {
      const topic = `r3/${uniqueId()}`;
      const subId = uniqueId("r3s");
      const s1 = await connectClient(b, { protocolVersion: 4, clientId: subId, clean: false });
      await s1.subscribeAsync(topic, { qos: 2 });
      await closeClient(s1);
      const pubId = uniqueId("r3p");
      const p1 = await rawPersistent(b, pubId);
      p1.client.sendPacket({
        cmd: "publish",
        topic,
        payload: "eo",
        qos: 2,
        messageId: 42,
        dup: false,
        retain: false,
      });
      await p1.client.expect("pubrec");
      p1.client.close();
      const b2 = await restartIt(how);
      const p2 = await rawPersistent(b2, pubId);
      try {
        assertEquals(p2.connack.sessionPresent, true);
        p2.client.sendPacket({
          cmd: "publish",
          topic,
          payload: "eo",
          qos: 2,
          messageId: 42,
          dup: true,
          retain: false,
        });
        assertEquals((await p2.client.expect("pubrec", 5000)).messageId, 42);
        p2.client.sendPacket({ cmd: "pubrel", messageId: 42 });
        assertEquals((await p2.client.expect("pubcomp")).messageId, 42);
      } finally {
        p2.client.close();
      }
      const s2 = await connectClient(b2, { protocolVersion: 4, clientId: subId, clean: false });
      const inbox = inboxOf(s2);
      await inbox.waitCount(1, 5000);
      await inbox.expectNone(700);
      assertEquals(inbox.messages.map((m) => m.payload), ["eo"]);
      await closeClient(s2);
    });
  });
}

Deno.test("graceful restart: persistent sessions, subscriptions, queued and retained messages survive", async () => {
  await withRestarts(async (b, restartIt) => {
    const id = uniqueId("gr");
    const topic = `gr/${id}`;
    const s1 = await connectClient(b, {
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    await s1.subscribeAsync(topic, { qos: 1 });
    await closeClient(s1);
    const pub = await connectClient(b, { protocolVersion: 5 });
    for (let i = 0; i < 20; i++) await pub.publishAsync(topic, `g${i}`, { qos: 1 });
    await pub.publishAsync(`${topic}/ret`, "kept", { qos: 1, retain: true });
    await closeClient(pub);
    const b2 = await restartIt("graceful");
    // published after the restart while the session is still offline: queued too
    const pub2 = await connectClient(b2, { protocolVersion: 5 });
    await pub2.publishAsync(topic, "offline-after-restart", { qos: 1 });
    const s2 = await connectClient(b2, {
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    assertEquals(connackOf(s2).sessionPresent, true);
    const inbox = inboxOf(s2);
    await inbox.waitCount(21, 5000).catch(() => {});
    await pub2.publishAsync(topic, "live-after-restart", { qos: 1 });
    await inbox.waitCount(22, 3000).catch(() => {});
    assertEquals(
      inbox.messages.map((m) => m.payload),
      [
        ...Array.from({ length: 20 }, (_, i) => `g${i}`),
        "offline-after-restart",
        "live-after-restart",
      ],
    );
    const fresh = await connectClient(b2, { protocolVersion: 5 });
    const fin = new Inbox(fresh);
    await fresh.subscribeAsync(`${topic}/ret`, { qos: 1 });
    assertEquals((await fin.next()).payload, "kept");
    await pub2.publishAsync(`${topic}/ret`, "", { qos: 1, retain: true });
    await closeClient(fresh);
    await closeClient(pub2);
    await closeClient(s2);
  });
});

Deno.test({
  name: "SIGTERM sends v5 clients DISCONNECT 0x8B (server shutting down) and exits 0",
  ignore: IS_MOSQUITTO, // mosquitto 2.0.11 just closes
  fn: async () => {
    const b = await startBroker({ ws: false });
    let stopped = false;
    try {
      const c = await connectClient(b, { protocolVersion: 5 });
      const disc = waitEvent<[{ reasonCode?: number }]>(c, "disconnect", 8000);
      const closed = waitEvent(c, "close", 8000);
      const code = await b.stop();
      stopped = true;
      assertEquals(code, 0);
      const [pkt] = await disc;
      assertEquals(pkt.reasonCode, 0x8b);
      await closed;
      c.end(true);
    } finally {
      if (!stopped) await b.stop();
    }
  },
});

Deno.test({
  name: "SIGINT also shuts down gracefully with exit 0",
  ignore: IS_MOSQUITTO,
  fn: async () => {
    const b = await startBroker({ ws: false });
    const code = await b.stop({ signal: "SIGINT" });
    assertEquals(code, 0);
    assert(!b.alive());
  },
});
