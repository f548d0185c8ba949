/**
 * End to end: protocol details that are easy to get wrong — wills on protocol
 * errors, re-subscribing, shared-group membership changes, per-connection topic
 * aliases, DISCONNECT session expiry, will properties, CONNACK capabilities.
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./harness/assert.ts";
import { sleep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connackOf,
  connectClient,
  dropClient,
  Inbox,
  inboxOf,
  uniqueId,
} from "./harness/clients.ts";
import { frame, mqttString } from "./harness/raw.ts";
import { type RawConnectOptions, TrackedClients } from "./harness/tracked.ts";

Deno.test("protocol details", async (t) => {
  const b = await startBroker({ ws: false });
  const tracked = new TrackedClients(b);
  const { open } = tracked;
  const client = (v: 4 | 5, extra = {}) => tracked.client({ protocolVersion: v, ...extra });
  const raw = (opts: RawConnectOptions) => tracked.raw(opts);
  try {
    for (const v of [4, 5] as const) {
      const tag = v === 4 ? "v3.1.1" : "v5";
      await t.step(
        `${tag}: the will is sent when the broker closes the connection for a protocol error`,
        async () => {
          const topic = `pwill/${uniqueId()}`;
          const watch = await client(v);
          const inbox = new Inbox(watch);
          await watch.subscribeAsync(topic, { qos: 1 });
          const { client: r } = await raw({
            clientId: uniqueId("pw"),
            protocolVersion: v,
            will: { topic, payload: Buffer.from("protocol-error"), qos: 1, retain: false },
          });
          const bad = frame(0x36, [...mqttString("x"), 0, 1, ...(v === 5 ? [0] : []), 0x70]); // QoS 3
          r.send(bad);
          await r.waitClosed(3000);
          assertEquals((await inbox.next(3000)).payload, "protocol-error");
        },
      );

      await t.step(
        `${tag}: subscribing again to the same filter replaces the subscription (one copy, new QoS)`,
        async () => {
          const topic = `resub/${uniqueId()}`;
          const s = await client(v);
          const inbox = new Inbox(s);
          await s.subscribeAsync(topic, { qos: 2 });
          await s.subscribeAsync(topic, { qos: 0 });
          const pub = await client(v);
          await pub.publishAsync(topic, "once", { qos: 2 });
          const m = await inbox.next();
          await inbox.expectNone(300);
          assertEquals([m.payload, m.packet.qos], ["once", 0]);
          await closeClient(pub);
          await closeClient(s);
        },
      );

      await t.step(
        `${tag}: when a shared-group member leaves, the remaining member gets every message`,
        async () => {
          const topic = `shleave/${uniqueId()}`;
          const a = await client(v);
          const bb = await client(v);
          await a.subscribeAsync(`$share/grp/${topic}`, { qos: 1 });
          await bb.subscribeAsync(`$share/grp/${topic}`, { qos: 1 });
          const ib = new Inbox(bb);
          await closeClient(a);
          const pub = await client(v);
          for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `l${i}`, { qos: 1 });
          await ib.waitCount(10, 5000);
          assertEquals(
            ib.messages.map((m) => m.payload),
            Array.from({ length: 10 }, (_, i) => `l${i}`),
          );
          await closeClient(pub);
          await closeClient(bb);
        },
      );

      await t.step(
        `${tag}: after unsubscribing from a shared group the client gets nothing from it`,
        async () => {
          const topic = `shunsub/${uniqueId()}`;
          const a = await client(v);
          const ia = new Inbox(a);
          await a.subscribeAsync(`$share/g2/${topic}`, { qos: 1 });
          await a.unsubscribeAsync(`$share/g2/${topic}`);
          const pub = await client(v);
          await pub.publishAsync(topic, "nobody", { qos: 1 });
          await ia.expectNone(400);
          await closeClient(pub);
          await closeClient(a);
        },
      );

      await t.step(
        `${tag}: a retained message queued for an offline session matched its subscription, so it arrives with retain 0`,
        async () => {
          const id = uniqueId("rq");
          const topic = `rq/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
          const s1 = await client(v, { clientId: id, clean: false, ...props });
          await s1.subscribeAsync(topic, { qos: 1 });
          await closeClient(s1);
          const pub = await client(v);
          await pub.publishAsync(topic, "rq", { qos: 1, retain: true });
          const s2 = await connectClient(b, {
            protocolVersion: v,
            clientId: id,
            clean: false,
            ...props,
          });
          open.push(s2);

          const m = await inboxOf(s2).next(3000);
          assertEquals([m.payload, m.packet.retain], ["rq", false]);
          await pub.publishAsync(topic, "", { qos: 1, retain: true });
          await closeClient(pub);
          await closeClient(s2);
          const end = await client(v, { clientId: id, clean: true });
          await closeClient(end);
        },
      );
    }

    await t.step(
      "300 retained messages reach a '#' subscriber whose receive maximum is 5, all of them once",
      async () => {
        const base = `manyret/${uniqueId()}`;
        const pub = await client(5);
        for (let i = 0; i < 300; i += 50) {
          await Promise.all(
            Array.from(
              { length: 50 },
              (_, j) => pub.publishAsync(`${base}/${i + j}`, `r${i + j}`, { qos: 1, retain: true }),
            ),
          );
        }
        for (const v of [4, 5] as const) {
          const s = await client(v, v === 5 ? { properties: { receiveMaximum: 5 } } : {});
          const inbox = new Inbox(s);
          await s.subscribeAsync(`${base}/#`, { qos: 1 });
          await inbox.waitCount(300, 10_000);
          await inbox.expectNone(300);
          assertEquals(new Set(inbox.messages.map((m) => m.payload)).size, 300);
          await closeClient(s);
        }
        for (let i = 0; i < 300; i += 50) {
          await Promise.all(
            Array.from(
              { length: 50 },
              (_, j) => pub.publishAsync(`${base}/${i + j}`, "", { qos: 1, retain: true }),
            ),
          );
        }
        await closeClient(pub);
      },
    );

    await t.step(
      "a 500-message offline queue drains in order through a receive maximum of 3",
      async () => {
        const id = uniqueId("drain");
        const topic = `drain/${id}`;
        const props = { properties: { sessionExpiryInterval: 60, receiveMaximum: 3 } };
        const s1 = await client(5, { clientId: id, clean: false, ...props });
        await s1.subscribeAsync(topic, { qos: 1 });
        await closeClient(s1);
        const pub = await client(4);
        for (let i = 0; i < 500; i += 50) {
          await Promise.all(
            Array.from(
              { length: 50 },
              (_, j) => pub.publishAsync(topic, String(i + j), { qos: 1 }),
            ),
          );
        }
        const s2 = await client(5, { clientId: id, clean: false, ...props });
        const inbox = inboxOf(s2);
        await inbox.waitCount(500, 15_000);
        await inbox.expectNone(300);
        const got = inbox.messages.map((m) => Number(m.payload));
        assertEquals(
          got,
          [...got].sort((a, b) => a - b),
          "queue order",
        );
        assertEquals(new Set(got).size, 500);
        await closeClient(pub);
        await closeClient(s2);
        const end = await client(5, { clientId: id, clean: true });
        await closeClient(end);
      },
    );

    await t.step(
      "v5: topic aliases do not survive a reconnect (alias-only PUBLISH is a protocol error)",
      async () => {
        const id = uniqueId("tar");
        const r1 = await raw({ clientId: id, protocolVersion: 5 });
        r1.client.sendPacket({
          cmd: "publish",
          topic: "tar/x",
          payload: "a",
          qos: 0,
          dup: false,
          retain: false,
          properties: { topicAlias: 1 },
        });
        await sleep(100);
        r1.client.close();
        const r2 = await raw({ clientId: id, protocolVersion: 5 });
        r2.client.send(frame(0x30, [...mqttString(""), 3, 0x23, 0, 1, 0x70]));
        const rest = await r2.client.waitClosed(3000);
        const d = rest.find((p) => p.cmd === "disconnect");
        if (d !== undefined && d.cmd === "disconnect") assertEquals(d.reasonCode, 0x82);
      },
    );

    await t.step(
      "v5: DISCONNECT with session expiry 0 ends a session that had a longer expiry",
      async () => {
        const id = uniqueId("dse");
        const r1 = await raw({
          clientId: id,
          protocolVersion: 5,
          clean: false,
          properties: { sessionExpiryInterval: 300 },
        });
        r1.client.sendPacket({
          cmd: "subscribe",
          messageId: 1,
          subscriptions: [{ topic: `dse/${id}`, qos: 1 }],
        });
        await r1.client.expect("suback");
        r1.client.sendPacket({
          cmd: "disconnect",
          reasonCode: 0,
          properties: { sessionExpiryInterval: 0 },
        });
        await r1.client.waitClosed(3000).catch(() => r1.client.close());
        const r2 = await raw({
          clientId: id,
          protocolVersion: 5,
          clean: false,
          properties: { sessionExpiryInterval: 0 },
        });
        assertEquals(r2.connack.sessionPresent, false);
        r2.client.close();
      },
    );

    await t.step(
      "v5: DISCONNECT setting a session expiry when CONNECT had 0 is a protocol error",
      async () => {
        const { client: r } = await raw({
          clientId: uniqueId("dse0"),
          protocolVersion: 5,
          properties: { sessionExpiryInterval: 0 },
        });
        r.sendPacket({
          cmd: "disconnect",
          reasonCode: 0,
          properties: { sessionExpiryInterval: 60 },
        });
        const rest = await r.waitClosed(3000);
        const d = rest.find((p) => p.cmd === "disconnect");
        if (d !== undefined && d.cmd === "disconnect") assertEquals(d.reasonCode, 0x82);
      },
    );

    await t.step(
      "v5: will properties (content type, user properties, response topic) travel with the will",
      async () => {
        const topic = `wprops/${uniqueId()}`;
        const watch = await client(5);
        const inbox = new Inbox(watch);
        await watch.subscribeAsync(topic, { qos: 1 });
        const c = await client(5, {
          will: {
            topic,
            payload: "w",
            qos: 1,
            retain: false,
            properties: {
              contentType: "text/plain",
              responseTopic: `${topic}/r`,
              correlationData: Buffer.from("cd"),
              userProperties: { who: "dying" },
              payloadFormatIndicator: true,
            },
          },
        });
        dropClient(c);
        const m = await inbox.next(3000);
        const p = m.packet.properties ?? {};
        assertEquals(p.contentType, "text/plain");
        assertEquals(p.responseTopic, `${topic}/r`);
        assertEquals(String(p.correlationData), "cd");
        assertEquals(p.userProperties, { who: "dying" });
        assertEquals(p.payloadFormatIndicator, true);
      },
    );

    await t.step(
      "v5: CONNACK does not deny features the broker has (retain, wildcards, shared, subscription ids)",
      async () => {
        const c = await client(5);
        const p = connackOf(c).properties ?? {};
        for (
          const key of [
            "retainAvailable",
            "wildcardSubscriptionAvailable",
            "sharedSubscriptionAvailable",
            "subscriptionIdentifiersAvailable",
          ] as const
        ) {
          assert(p[key] === undefined || p[key] === true, `${key} = ${p[key]}`);
        }
        assert(
          p.maximumQoS === undefined || p.maximumQoS === 2 as unknown,
          `maximumQoS ${p.maximumQoS}`,
        );
        await closeClient(c);
      },
    );

    await t.step(
      "a PUBACK for an unknown packet id is ignored and the connection keeps working",
      async () => {
        const { client: r } = await raw({ clientId: uniqueId("pa"), protocolVersion: 4 });
        r.sendPacket({ cmd: "puback", messageId: 999 });
        r.sendPacket({ cmd: "pingreq" });
        await r.expect("pingresp");
        assert(!r.closed);
        r.close();
      },
    );
  } finally {
    tracked.closeAll();
    await b.stop();
  }
});
