/**
import { Buffer } from "node:buffer";
 * End to end: wills, keep-alive, clean/persistent sessions, session expiry,
 * takeover, assigned client ids, and QoS 1/2 state across reconnects.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import { IS_MOSQUITTO, sleep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connackOf,
  dropClient,
  Inbox,
  inboxOf,
  uniqueId,
  waitEvent,
} from "./harness/clients.ts";
import { frame, mqttString, type Packet, RawClient } from "./harness/raw.ts";
import { type RawConnectOptions, TrackedClients } from "./harness/tracked.ts";

const VERSIONS: (4 | 5)[] = [4, 5];
const vname = (v: 4 | 5) => (v === 4 ? "v3.1.1" : "v5");

Deno.test("wills, keep-alive and sessions", async (t) => {
  const b = await startBroker({ maxKeepAliveSeconds: 30 });
  const tracked = new TrackedClients(b);
  const { raws } = tracked;
  const client = (v: 4 | 5, extra = {}) => tracked.client({ protocolVersion: v, ...extra });
  const raw = (opts: RawConnectOptions) => tracked.raw(opts);
  const subscriber = async (v: 4 | 5, filter: string) => {
    const s = await client(v);
    // listen before subscribing: a retained message can arrive in the same read as SUBACK
    const inbox = new Inbox(s);
    await s.subscribeAsync(filter, { qos: 1 });
    return inbox;
  };
  try {
    for (const v of VERSIONS) {
      await t.step(`${vname(v)}: an abnormal close delivers the will`, async () => {
        const topic = `will/${uniqueId()}`;
        const watch = await subscriber(v, topic);
        const c = await client(v, { will: { topic, payload: "gone", qos: 1, retain: false } });
        dropClient(c);
        const m = await watch.next(3000);
        assertEquals(m.payload, "gone");
        assertEquals(m.packet.qos, 1);
        await closeClient(watch.client);
      });

      await t.step(`${vname(v)}: a normal DISCONNECT discards the will`, async () => {
        const topic = `will/${uniqueId()}`;
        const watch = await subscriber(v, topic);
        const c = await client(v, { will: { topic, payload: "gone", qos: 1, retain: false } });
        await closeClient(c);
        await watch.expectNone(800);
        await closeClient(watch.client);
      });

      await t.step(`${vname(v)}: a retained will is stored as a retained message`, async () => {
        const topic = `will/${uniqueId()}`;
        const c = await client(v, { will: { topic, payload: "rw", qos: 1, retain: true } });
        dropClient(c);
        await sleep(300);
        const late = await subscriber(v, topic);
        const m = await late.next(3000);
        assertEquals(m.payload, "rw");
        assertEquals(m.packet.retain, true);
        const cleaner = await client(v);
        await cleaner.publishAsync(topic, "", { qos: 1, retain: true });
        await closeClient(cleaner);
        await closeClient(late.client);
      });

      await t.step(
        `${
          vname(v)
        }: a client that stops pinging is closed within 1.5x keep-alive and its will is sent`,
        async () => {
          const topic = `ka/${uniqueId()}`;
          const watch = await subscriber(v, topic);
          const { client: r, connack } = await raw({
            clientId: uniqueId("ka"),
            protocolVersion: v,
            keepalive: 2,
            will: { topic, payload: Buffer.from("ka-will"), qos: 1, retain: false },
          });
          assertEquals(connack.returnCode ?? connack.reasonCode ?? 0, 0);
          const t0 = Date.now();
          await r.waitClosed(10_000);
          const elapsed = Date.now() - t0;
          assert(elapsed >= 1900, `closed too early: ${elapsed} ms`);
          // mosquitto 2.0.11 checks keep-alive coarsely (observed 4.6-7.2 s); edgemq must meet 1.5x.
          const bound = IS_MOSQUITTO ? 9000 : 3000 + 900;
          assert(elapsed <= bound, `closed after ${elapsed} ms, more than 1.5 x 2 s`);
          const m = await watch.next(2000);
          assertEquals(m.payload, "ka-will");
          await closeClient(watch.client);
        },
      );

      await t.step(`${vname(v)}: a client that pings in time stays connected`, async () => {
        const { client: r } = await raw({
          clientId: uniqueId("kp"),
          protocolVersion: v,
          keepalive: 1,
        });
        for (let i = 0; i < 5; i++) {
          await sleep(500);
          r.sendPacket({ cmd: "pingreq" });
          await r.expect("pingresp", 1500);
        }
        assert(!r.closed, "broker closed a client that pinged in time");
        r.close();
      });

      await t.step(
        `${vname(v)}: a persistent session receives messages queued while offline, in order`,
        async () => {
          const id = uniqueId("ps");
          const topic = `ps/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
          const s1 = await client(v, { clientId: id, clean: false, ...props });
          await s1.subscribeAsync(topic, { qos: 1 });
          await closeClient(s1);
          const pub = await client(v);
          for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `q${i}`, { qos: 1 });
          await pub.publishAsync(topic, "zero", { qos: 0 });
          await closeClient(pub);
          const s2 = await client(v, { clientId: id, clean: false, ...props });
          assertEquals(connackOf(s2).sessionPresent, true);
          const inbox = inboxOf(s2);
          const got = await inbox.waitCount(10, 5000);
          assertEquals(
            got.map((m) => m.payload),
            Array.from({ length: 10 }, (_, i) => `q${i}`),
          );
          // the subscription survives too: a new message arrives without re-subscribing
          const pub2 = await client(v);
          await pub2.publishAsync(topic, "live", { qos: 1 });
          const deadline = Date.now() + 3000;
          while (!inbox.messages.some((m) => m.payload === "live") && Date.now() < deadline) {
            await sleep(50);
          }
          assert(
            inbox.messages.some((m) => m.payload === "live"),
            "subscription kept in the session",
          );
          await closeClient(pub2);
          await closeClient(s2, 3000);
          const s3 = await client(v, { clientId: id, clean: true });
          await closeClient(s3);
        },
      );

      await t.step(
        `${vname(v)}: a clean start discards the stored session and its queued messages`,
        async () => {
          const id = uniqueId("cs");
          const topic = `cs/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
          const s1 = await client(v, { clientId: id, clean: false, ...props });
          await s1.subscribeAsync(topic, { qos: 1 });
          await closeClient(s1);
          const pub = await client(v);
          await pub.publishAsync(topic, "queued", { qos: 1 });
          const s2 = await client(v, { clientId: id, clean: true });
          assertEquals(connackOf(s2).sessionPresent, false);
          const in2 = inboxOf(s2);
          await in2.expectNone(500);
          await closeClient(s2);
          const s3 = await client(v, { clientId: id, clean: false, ...props });
          assertEquals(connackOf(s3).sessionPresent, false);
          const in3 = inboxOf(s3);
          await pub.publishAsync(topic, "after", { qos: 1 });
          await in3.expectNone(500);
          await closeClient(pub);
          await closeClient(s3);
          const s4 = await client(v, { clientId: id, clean: true });
          await closeClient(s4);
        },
      );

      await t.step(
        `${vname(v)}: a second connection with the same client id takes over the session`,
        async () => {
          const id = uniqueId("to");
          const first = await client(v, { clientId: id });
          const closed = waitEvent(first, "close", 3000);
          // mosquitto 2.0.11 closes the old connection without a DISCONNECT packet.
          const disc = v === 5 && !IS_MOSQUITTO
            ? waitEvent<[{ reasonCode?: number }]>(first, "disconnect", 3000)
            : undefined;
          const second = await client(v, { clientId: id });
          await closed;
          if (disc !== undefined) {
            const [pkt] = await disc;
            assertEquals(pkt.reasonCode, 0x8e, "v5 DISCONNECT reason Session taken over");
          }
          assert(second.connected, "the new connection stays up");
          const topic = `to/${id}`;
          const inbox = new Inbox(second);
          await second.subscribeAsync(topic, { qos: 1 });
          await second.publishAsync(topic, "mine", { qos: 1 });
          assertEquals((await inbox.next()).payload, "mine");
          await closeClient(second);
          first.end(true);
        },
      );
    }

    for (const v of VERSIONS) {
      await t.step(
        `${vname(v)}: taking over a persistent session keeps its subscriptions and queued messages`,
        async () => {
          const id = uniqueId("tp");
          const topic = `tp/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
          const first = await client(v, { clientId: id, clean: false, ...props });
          await first.subscribeAsync(topic, { qos: 1 });
          const second = await client(v, { clientId: id, clean: false, ...props });
          assertEquals(connackOf(second).sessionPresent, true);
          const pub = await client(v);
          await pub.publishAsync(topic, "to-new", { qos: 1 });
          assertEquals((await inboxOf(second).next()).payload, "to-new");
          await closeClient(pub);
          await closeClient(second);
          first.end(true);
          const end = await client(v, { clientId: id, clean: true });
          await closeClient(end);
        },
      );

      await t.step(
        `${vname(v)}: an UNSUBSCRIBE in a persistent session is remembered across reconnects`,
        async () => {
          const id = uniqueId("us");
          const topic = `us/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
          const s1 = await client(v, { clientId: id, clean: false, ...props });
          await s1.subscribeAsync([topic, `${topic}/still`], { qos: 1 });
          await s1.unsubscribeAsync(topic);
          await closeClient(s1);
          const pub = await client(v);
          await pub.publishAsync(topic, "gone", { qos: 1 });
          await pub.publishAsync(`${topic}/still`, "still", { qos: 1 });
          const s2 = await client(v, { clientId: id, clean: false, ...props });
          const inbox = inboxOf(s2);
          assertEquals((await inbox.next()).payload, "still");
          await inbox.expectNone(400);
          await closeClient(pub);
          await closeClient(s2);
          const end = await client(v, { clientId: id, clean: true });
          await closeClient(end);
        },
      );

      await t.step(
        `${vname(v)}: 30 rapid reconnects with one client id leave one working connection`,
        async () => {
          const id = uniqueId("churn");
          for (let i = 0; i < 30; i++) {
            const c = await client(v, { clientId: id, clean: i % 2 === 0 });
            if (i % 3 === 0) dropClient(c);
            else if (i % 3 === 1) await closeClient(c);
            // else: left open, taken over by the next one
          }
          const last = await client(v, { clientId: id, clean: true });
          const inbox = new Inbox(last);
          const topic = `churn/${id}`;
          await last.subscribeAsync(topic, { qos: 1 });
          await last.publishAsync(topic, "alive", { qos: 1 });
          assertEquals((await inbox.next()).payload, "alive");
          await closeClient(last);
        },
      );
    }

    await t.step(
      "v5: clean start with a session expiry starts a new session that then persists",
      async () => {
        const id = uniqueId("cse");
        const topic = `cse/${id}`;
        const s1 = await client(5, {
          clientId: id,
          clean: false,
          properties: { sessionExpiryInterval: 300 },
        });
        await s1.subscribeAsync(`${topic}/old`, { qos: 1 });
        await closeClient(s1);
        const s2 = await client(5, {
          clientId: id,
          clean: true,
          properties: { sessionExpiryInterval: 300 },
        });
        assertEquals(connackOf(s2).sessionPresent, false);
        await s2.subscribeAsync(`${topic}/new`, { qos: 1 });
        await closeClient(s2);
        const pub = await client(5);
        await pub.publishAsync(`${topic}/old`, "old", { qos: 1 });
        await pub.publishAsync(`${topic}/new`, "new", { qos: 1 });
        const s3 = await client(5, {
          clientId: id,
          clean: false,
          properties: { sessionExpiryInterval: 0 },
        });
        assertEquals(connackOf(s3).sessionPresent, true);
        const inbox = inboxOf(s3);
        assertEquals((await inbox.next()).payload, "new");
        await inbox.expectNone(400);
        await closeClient(pub);
        await closeClient(s3);
      },
    );

    await t.step("v5: DISCONNECT with reason 0x04 sends the will", async () => {
      const topic = `will4/${uniqueId()}`;
      const watch = await subscriber(5, topic);
      const { client: r } = await raw({
        clientId: uniqueId("w4"),
        protocolVersion: 5,
        will: { topic, payload: Buffer.from("w4"), qos: 1, retain: false },
      });
      r.sendPacket({ cmd: "disconnect", reasonCode: 0x04 });
      await r.waitClosed(3000).catch(() => r.close());
      assertEquals((await watch.next(3000)).payload, "w4");
      await closeClient(watch.client);
    });

    await t.step("v5: the will is delayed by the will delay interval", async () => {
      const topic = `wd/${uniqueId()}`;
      const watch = await subscriber(5, topic);
      const c = await client(5, {
        properties: { sessionExpiryInterval: 30 },
        will: {
          topic,
          payload: "late",
          qos: 1,
          retain: false,
          properties: { willDelayInterval: 2 },
        },
      });
      const t0 = Date.now();
      dropClient(c);
      const m = await watch.next(5000);
      const elapsed = Date.now() - t0;
      assertEquals(m.payload, "late");
      assert(elapsed >= 1500, `will sent after ${elapsed} ms, before its 2 s delay`);
      await closeClient(watch.client);
    });

    await t.step("v5: reconnecting within the will delay cancels the will", async () => {
      const topic = `wd/${uniqueId()}`;
      const id = uniqueId("wdc");
      const watch = await subscriber(5, topic);
      const c = await client(5, {
        clientId: id,
        properties: { sessionExpiryInterval: 30 },
        will: {
          topic,
          payload: "cancelled",
          qos: 1,
          retain: false,
          properties: { willDelayInterval: 2 },
        },
      });
      dropClient(c);
      await sleep(300);
      const back = await client(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 30 },
      });
      await watch.expectNone(2800);
      await closeClient(back);
      await closeClient(watch.client);
    });

    await t.step(
      "v5: a session that expires before the will delay sends the will at expiry",
      async () => {
        const topic = `wd/${uniqueId()}`;
        const watch = await subscriber(5, topic);
        const c = await client(5, {
          properties: { sessionExpiryInterval: 1 },
          will: {
            topic,
            payload: "expired",
            qos: 1,
            retain: false,
            properties: { willDelayInterval: 30 },
          },
        });
        const t0 = Date.now();
        dropClient(c);
        const m = await watch.next(4000);
        assertEquals(m.payload, "expired");
        assert(Date.now() - t0 < 4000);
        await closeClient(watch.client);
      },
    );

    await t.step("v5: a session is gone after its session expiry interval", async () => {
      const id = uniqueId("se");
      const s1 = await client(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 1 },
      });
      await s1.subscribeAsync(`se/${id}`, { qos: 1 });
      await closeClient(s1);
      const s2 = await client(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 1 },
      });
      assertEquals(connackOf(s2).sessionPresent, true, "present right after disconnect");
      await closeClient(s2);
      await sleep(2500);
      const s3 = await client(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 0 },
      });
      assertEquals(connackOf(s3).sessionPresent, false, "gone after expiry");
      await closeClient(s3);
    });

    await t.step("v5: session expiry 0 ends the session at disconnect", async () => {
      const id = uniqueId("se0");
      const s1 = await client(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 0 },
      });
      await s1.subscribeAsync(`se/${id}`, { qos: 1 });
      await closeClient(s1);
      const s2 = await client(5, { clientId: id, clean: false });
      assertEquals(connackOf(s2).sessionPresent, false);
      await closeClient(s2);
    });

    await t.step(
      "v5: a client asking for a longer keep-alive gets the server's maximum in CONNACK",
      async () => {
        const { client: r, connack } = await raw({
          clientId: uniqueId("mk"),
          protocolVersion: 5,
          keepalive: 50,
        });
        assertEquals(connack.reasonCode, 0);
        assertEquals(connack.properties?.serverKeepAlive, 30);
        r.close();
      },
    );

    await t.step(
      "v5: a client asking for keep-alive 0 (none) gets the server's maximum in CONNACK",
      async () => {
        const { client: r, connack } = await raw({
          clientId: uniqueId("mk0"),
          protocolVersion: 5,
          keepalive: 0,
        });
        assertEquals(connack.reasonCode, 0);
        assertEquals(connack.properties?.serverKeepAlive, 30);
        r.close();
      },
    );

    await t.step(
      "v5: a client within the maximum keeps its keep-alive (no serverKeepAlive)",
      async () => {
        const { client: r, connack } = await raw({
          clientId: uniqueId("mk1"),
          protocolVersion: 5,
          keepalive: 10,
        });
        assertEquals(connack.reasonCode, 0);
        const ska = connack.properties?.serverKeepAlive;
        assert(ska === undefined || ska === 10, `serverKeepAlive ${ska}`);
        r.close();
      },
    );

    await t.step("v5: an empty client id gets an assigned client identifier", async () => {
      const { client: r, connack } = await raw({ clientId: "", protocolVersion: 5, clean: true });
      assertEquals(connack.reasonCode, 0);
      const assigned = connack.properties?.assignedClientIdentifier;
      assert(
        typeof assigned === "string" && assigned.length > 0,
        "assignedClientIdentifier present",
      );
      r.close();
    });

    await t.step(
      "v3.1.1: an empty client id is accepted with clean session and rejected (rc 2) without",
      async () => {
        const ok = await raw({ clientId: "", protocolVersion: 4, clean: true });
        assertEquals(ok.connack.returnCode, 0);
        ok.client.close();
        // mqtt-packet refuses to encode this CONNECT, so build it by hand.
        const bad = await RawClient.open(b.tcpPort, 4);
        raws.push(bad);
        bad.send(frame(0x10, [...mqttString("MQTT"), 4, 0x00, 0, 20, ...mqttString("")]));
        const ack = await bad.expect("connack");
        assertEquals(ack.returnCode, 2);
        await bad.waitClosed(3000);
      },
    );

    await t.step(
      "v3.1.1: a QoS 2 message resent with DUP after a reconnect is delivered exactly once",
      async () => {
        const topic = `eo/${uniqueId()}`;
        const watch = await subscriber(4, topic);
        await watch.client.subscribeAsync(topic, { qos: 2 });
        const id = uniqueId("eo");
        const p1 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        p1.client.sendPacket({
          cmd: "publish",
          topic,
          payload: "once",
          qos: 2,
          messageId: 10,
          dup: false,
          retain: false,
        });
        const rec = await p1.client.expect("pubrec");
        assertEquals(rec.messageId, 10);
        p1.client.close();
        await sleep(200);
        const p2 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        assertEquals(p2.connack.sessionPresent, true);
        p2.client.sendPacket({
          cmd: "publish",
          topic,
          payload: "once",
          qos: 2,
          messageId: 10,
          dup: true,
          retain: false,
        });
        assertEquals((await p2.client.expect("pubrec")).messageId, 10);
        p2.client.sendPacket({ cmd: "pubrel", messageId: 10 });
        assertEquals((await p2.client.expect("pubcomp")).messageId, 10);
        await watch.waitCount(1, 3000);
        await watch.expectNone(500);
        assertEquals(watch.messages.length, 1, "delivered exactly once");
        p2.client.close();
        const cleanup = await raw({ clientId: id, protocolVersion: 4, clean: true });
        cleanup.client.close();
        await closeClient(watch.client);
      },
    );

    await t.step(
      "v3.1.1: an unacknowledged QoS 1 delivery is resent with DUP after reconnect",
      async () => {
        const id = uniqueId("dup");
        const topic = `dup/${id}`;
        const s1 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        s1.client.sendPacket({
          cmd: "subscribe",
          messageId: 1,
          subscriptions: [{ topic, qos: 1 }],
        });
        await s1.client.expect("suback");
        const pub = await client(4);
        await pub.publishAsync(topic, "ack-me", { qos: 1 });
        const first = await s1.client.expect("publish");
        assertEquals(first.dup, false);
        s1.client.close(); // no PUBACK
        await sleep(200);
        const s2 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        assertEquals(s2.connack.sessionPresent, true);
        const again = await s2.client.expect("publish");
        assertEquals(again.dup, true);
        assertEquals(again.messageId, first.messageId);
        assertEquals(String(again.payload), "ack-me");
        s2.client.sendPacket({ cmd: "puback", messageId: again.messageId });
        await sleep(200);
        s2.client.close();
        const s3 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        const extra: Packet[] = [];
        await s3.client.next(700).then((p) => extra.push(p)).catch(() => {});
        assertEquals(
          extra.filter((p) => p.cmd === "publish").length,
          0,
          "acked message not resent",
        );
        s3.client.close();
        const cleanup = await raw({ clientId: id, protocolVersion: 4, clean: true });
        cleanup.client.close();
        await closeClient(pub);
      },
    );

    await t.step(
      "v3.1.1: after PUBREC and a reconnect the broker resends PUBREL, not the PUBLISH",
      async () => {
        const id = uniqueId("rel");
        const topic = `rel/${id}`;
        const s1 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        s1.client.sendPacket({
          cmd: "subscribe",
          messageId: 1,
          subscriptions: [{ topic, qos: 2 }],
        });
        await s1.client.expect("suback");
        const pub = await client(4);
        await pub.publishAsync(topic, "two", { qos: 2 });
        const p = await s1.client.expect("publish");
        s1.client.sendPacket({ cmd: "pubrec", messageId: p.messageId });
        await s1.client.expect("pubrel");
        s1.client.close(); // no PUBCOMP
        await sleep(200);
        const s2 = await raw({ clientId: id, protocolVersion: 4, clean: false });
        const rel = await s2.client.expect("pubrel");
        assertEquals(rel.messageId, p.messageId);
        s2.client.sendPacket({ cmd: "pubcomp", messageId: p.messageId });
        await sleep(300);
        assertEquals(s2.client.pending().filter((x) => x.cmd === "publish").length, 0);
        s2.client.close();
        const cleanup = await raw({ clientId: id, protocolVersion: 4, clean: true });
        cleanup.client.close();
        await closeClient(pub);
      },
    );
  } finally {
    tracked.closeAll();
    await b.stop();
  }
});
