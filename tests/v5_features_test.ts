/**
 * End to end: MQTT 5 features — topic alias both ways, receive maximum both ways,
 * maximum packet size both ways, message expiry, subscription identifiers,
 * no-local, retain-as-published, retain handling, payload format / content type,
 * request/response properties, user properties.
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./harness/assert.ts";
import { edgemqStep, IS_MOSQUITTO, sleep, startBroker } from "./harness/broker.ts";
import { closeClient, Inbox, inboxOf, uniqueId } from "./harness/clients.ts";
import type { Packet, RawClient } from "./harness/raw.ts";
import { type RawConnectOptions, TrackedClients } from "./harness/tracked.ts";

type PublishPacket = Extract<Packet, { cmd: "publish" }>;

const BROKER_MAX_PACKET = 20_000;

/** Collect publish packets from a raw client for ms milliseconds. */
async function drainPublishes(r: RawClient, ms: number): Promise<PublishPacket[]> {
  const out: PublishPacket[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const p = await r.next(Math.max(1, deadline - Date.now()));
      if (p.cmd === "publish") out.push(p);
    } catch {
      break;
    }
  }
  return out;
}

Deno.test("MQTT 5 features", async (t) => {
  const b = await startBroker({
    limits: { maxPacketBytes: BROKER_MAX_PACKET, receiveMaximum: 10 },
  });
  const tracked = new TrackedClients(b);
  const client = (extra = {}) => tracked.client({ protocolVersion: 5, ...extra });
  const raw = (opts: Omit<RawConnectOptions, "protocolVersion">) =>
    tracked.raw({ protocolVersion: 5, ...opts });
  const rawSubscribe = async (r: RawClient, topic: string, qos: 0 | 1 | 2, properties = {}) => {
    r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos }], properties });
    const ack = await r.expect("suback");
    assertEquals(ack.granted, [qos]);
  };
  try {
    await t.step(
      "a client's topic alias is resolved by the broker for later alias-only publishes",
      async () => {
        const topic = `alias/${uniqueId()}`;
        const sub = await client();
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(topic, { qos: 1 });
        const { client: r, connack } = await raw({ clientId: uniqueId("ta") });
        const max = connack.properties?.topicAliasMaximum ?? 0;
        assert(max >= 1, `CONNACK topicAliasMaximum ${max}`);
        r.sendPacket({
          cmd: "publish",
          topic,
          payload: "one",
          qos: 1,
          messageId: 1,
          dup: false,
          retain: false,
          properties: { topicAlias: 1 },
        });
        await r.expect("puback");
        r.sendPacket({
          cmd: "publish",
          topic: "",
          payload: "two",
          qos: 1,
          messageId: 2,
          dup: false,
          retain: false,
          properties: { topicAlias: 1 },
        });
        await r.expect("puback");
        await inbox.waitCount(2);
        assertEquals(inbox.messages.map((m) => [m.topic, m.payload]), [[topic, "one"], [
          topic,
          "two",
        ]]);
        r.close();
        await closeClient(sub);
      },
    );

    await t.step(
      "outbound topic aliases, if used, resolve to the right topic and stay within the client's maximum",
      async () => {
        const topics = [`oa/${uniqueId()}/a`, `oa/${uniqueId()}/b`];
        const { client: r } = await raw({
          clientId: uniqueId("oa"),
          properties: { topicAliasMaximum: 2 },
        });
        await rawSubscribe(r, "oa/#", 0);
        const pub = await client();
        const sent: string[] = [];
        for (let i = 0; i < 6; i++) {
          const tp = topics[i % 2];
          sent.push(tp);
          await pub.publishAsync(tp, `p${i}`, { qos: 1 });
        }
        const got = await drainPublishes(r, 1000);
        const aliases = new Map<number, string>();
        const resolved = got.map((p) => {
          const alias = p.properties?.topicAlias;
          if (alias !== undefined) {
            assert(alias >= 1 && alias <= 2, `alias ${alias} outside 1..2`);
            if (p.topic !== "") aliases.set(alias, p.topic);
            const tp = aliases.get(alias);
            assert(tp !== undefined, `alias ${alias} used before it was set`);
            return tp;
          }
          assert(p.topic !== "", "empty topic without alias");
          return p.topic;
        });
        assertEquals(resolved, sent);
        r.close();
        await closeClient(pub);
      },
    );

    await edgemqStep(
      t,
      "the broker uses topic aliases towards a client that allows them",
      async () => {
        const topic = `oa2/${uniqueId()}`;
        const { client: r } = await raw({
          clientId: uniqueId("oa2"),
          properties: { topicAliasMaximum: 4 },
        });
        await rawSubscribe(r, topic, 0);
        const pub = await client();
        for (let i = 0; i < 3; i++) await pub.publishAsync(topic, `p${i}`, { qos: 1 });
        const got = await drainPublishes(r, 1000);
        assertEquals(got.length, 3);
        assert(
          got.slice(1).some((p) => p.topic === "" && p.properties?.topicAlias !== undefined),
          "alias-only publish seen",
        );
        r.close();
        await closeClient(pub);
      },
    );

    await t.step("a client that allows no topic aliases never receives one", async () => {
      const topic = `noalias/${uniqueId()}`;
      const { client: r } = await raw({ clientId: uniqueId("na") });
      await rawSubscribe(r, topic, 0);
      const pub = await client();
      for (let i = 0; i < 3; i++) await pub.publishAsync(topic, `p${i}`, { qos: 1 });
      const got = await drainPublishes(r, 700);
      assertEquals(got.length, 3);
      for (const p of got) {
        assertEquals(p.topic, topic);
        assertEquals(p.properties?.topicAlias, undefined);
      }
      r.close();
      await closeClient(pub);
    });

    // mosquitto 2.0.11 honours it for the first window only (observed 5 in flight after one
    // PUBACK with receive maximum 3), so this runs against edgemq only.
    await edgemqStep(
      t,
      "the broker never has more unacknowledged QoS 1 deliveries than the client's receive maximum",
      async () => {
        const topic = `rm/${uniqueId()}`;
        const { client: r } = await raw({
          clientId: uniqueId("rm"),
          properties: { receiveMaximum: 3 },
        });
        await rawSubscribe(r, topic, 1);
        const pub = await client();
        for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `r${i}`, { qos: 1 });
        const all = await drainPublishes(r, 800);
        assertEquals(all.length, 3, "exactly receiveMaximum in flight");
        const inflight = all.map((p) => p.messageId);
        for (let round = 0; round < 20 && all.length < 10; round++) {
          // ack the oldest unacknowledged delivery; then at most one more may be in flight
          const id = inflight.shift();
          r.sendPacket({ cmd: "puback", messageId: id });
          const more = await drainPublishes(r, 300);
          all.push(...more);
          inflight.push(...more.map((p) => p.messageId));
          assert(
            inflight.length <= 3,
            `${inflight.length} unacknowledged deliveries, receive maximum 3`,
          );
        }
        assertEquals(
          all.map((p) => String(p.payload)),
          Array.from({ length: 10 }, (_, i) => `r${i}`),
        );
        for (const p of all) r.sendPacket({ cmd: "puback", messageId: p.messageId });
        r.close();
        await closeClient(pub);
      },
    );

    await t.step(
      "CONNACK announces the broker's receive maximum and maximum packet size",
      async () => {
        const { client: r, connack } = await raw({ clientId: uniqueId("ca") });
        assertEquals(connack.properties?.receiveMaximum, IS_MOSQUITTO ? 10 : 10);
        assertEquals(connack.properties?.maximumPacketSize, BROKER_MAX_PACKET);
        r.close();
      },
    );

    await edgemqStep(
      t,
      "a client exceeding the broker's receive maximum with QoS 2 gets DISCONNECT 0x93",
      async () => {
        const { client: r } = await raw({ clientId: uniqueId("rmx") });
        const topic = `rmx/${uniqueId()}`;
        for (let i = 1; i <= 11; i++) {
          r.sendPacket({
            cmd: "publish",
            topic,
            payload: "x",
            qos: 2,
            messageId: i,
            dup: false,
            retain: false,
          });
        }
        const rest = await r.waitClosed(3000);
        const disc = rest.find((p) => p.cmd === "disconnect");
        assert(
          disc !== undefined && disc.cmd === "disconnect",
          `no DISCONNECT: ${JSON.stringify(rest.map((p) => p.cmd))}`,
        );
        assertEquals(disc.reasonCode, 0x93);
      },
    );

    await t.step(
      "a message larger than the client's maximum packet size is not sent to it",
      async () => {
        const topic = `mps/${uniqueId()}`;
        const { client: r } = await raw({
          clientId: uniqueId("mps"),
          properties: { maximumPacketSize: 300 },
        });
        await rawSubscribe(r, topic, 1);
        const pub = await client();
        await pub.publishAsync(topic, "x".repeat(1000), { qos: 1 });
        await pub.publishAsync(topic, "small", { qos: 1 });
        const got = await drainPublishes(r, 800);
        assertEquals(got.map((p) => String(p.payload)), ["small"]);
        for (const p of got) r.sendPacket({ cmd: "puback", messageId: p.messageId });
        assert(!r.closed, "subscriber must stay connected");
        r.close();
        await closeClient(pub);
      },
    );

    await t.step(
      "retained and queued messages also respect the client's maximum packet size",
      async () => {
        const base = `mpsr/${uniqueId()}`;
        const pub = await client();
        await pub.publishAsync(`${base}/big`, "x".repeat(1000), { qos: 1, retain: true });
        await pub.publishAsync(`${base}/small`, "small", { qos: 1, retain: true });
        const id = uniqueId("mpsq");
        const { client: r } = await raw({
          clientId: id,
          clean: false,
          properties: { maximumPacketSize: 300, sessionExpiryInterval: 60 },
        });
        await rawSubscribe(r, `${base}/#`, 1);
        const retained = await drainPublishes(r, 600);
        assertEquals(retained.map((p) => String(p.payload)), ["small"]);
        for (const p of retained) r.sendPacket({ cmd: "puback", messageId: p.messageId });
        await sleep(100);
        r.close();
        await pub.publishAsync(`${base}/q`, "y".repeat(1000), { qos: 1 });
        await pub.publishAsync(`${base}/q`, "fits", { qos: 1 });
        const again = await raw({
          clientId: id,
          clean: false,
          properties: { maximumPacketSize: 300, sessionExpiryInterval: 0 },
        });
        const queued = await drainPublishes(again.client, 600);
        assertEquals(queued.map((p) => String(p.payload)), ["fits"]);
        for (const p of queued) again.client.sendPacket({ cmd: "puback", messageId: p.messageId });
        assert(!again.client.closed, "client stays connected");
        again.client.close();
        await pub.publishAsync(`${base}/big`, "", { qos: 1, retain: true });
        await pub.publishAsync(`${base}/small`, "", { qos: 1, retain: true });
        await closeClient(pub);
      },
    );

    await t.step(
      "a PUBLISH larger than the broker's maximum packet size gets DISCONNECT 0x95",
      async () => {
        const { client: r } = await raw({ clientId: uniqueId("big") });
        r.sendPacket({
          cmd: "publish",
          topic: "big/x",
          payload: Buffer.alloc(BROKER_MAX_PACKET + 100, 1),
          qos: 0,
          dup: false,
          retain: false,
        });
        const rest = await r.waitClosed(3000);
        const disc = rest.find((p) => p.cmd === "disconnect");
        if (disc !== undefined && disc.cmd === "disconnect") assertEquals(disc.reasonCode, 0x95);
        else assert(IS_MOSQUITTO, "edgemq must send DISCONNECT 0x95 before closing");
      },
    );

    await t.step(
      "an expired message is not delivered from the offline queue; the remaining expiry is decremented",
      async () => {
        const id = uniqueId("mx");
        const topic = `mx/${id}`;
        const s1 = await client({
          clientId: id,
          clean: false,
          properties: { sessionExpiryInterval: 60 },
        });
        await s1.subscribeAsync(topic, { qos: 1 });
        await closeClient(s1);
        const pub = await client();
        await pub.publishAsync(topic, "short", {
          qos: 1,
          properties: { messageExpiryInterval: 1 },
        });
        await pub.publishAsync(topic, "long", {
          qos: 1,
          properties: { messageExpiryInterval: 60 },
        });
        await sleep(2200);
        const s2 = await client({
          clientId: id,
          clean: false,
          properties: { sessionExpiryInterval: 0 },
        });
        const inbox = inboxOf(s2);
        const m = await inbox.next(3000);
        await inbox.expectNone(300);
        assertEquals(m.payload, "long");
        const left = m.packet.properties?.messageExpiryInterval;
        assert(typeof left === "number" && left <= 58 && left > 0, `remaining expiry ${left}`);
        await closeClient(pub);
        await closeClient(s2);
      },
    );

    await t.step(
      "subscription identifiers are returned with matching messages only for subscriptions that set one",
      async () => {
        const base = `sid/${uniqueId()}`;
        const s = await client();
        const inbox = new Inbox(s);
        await s.subscribeAsync(`${base}/a`, { qos: 1, properties: { subscriptionIdentifier: 42 } });
        await s.subscribeAsync(`${base}/b`, { qos: 1 });
        const pub = await client();
        await pub.publishAsync(`${base}/a`, "a", { qos: 1 });
        await pub.publishAsync(`${base}/b`, "b", { qos: 1 });
        const [a, bb] = await inbox.waitCount(2);
        const ida = a.packet.properties?.subscriptionIdentifier;
        assertEquals(Array.isArray(ida) ? ida : [ida], [42]);
        assertEquals(bb.packet.properties?.subscriptionIdentifier, undefined);
        await closeClient(pub);
        await closeClient(s);
      },
    );

    await t.step(
      "no-local: a client does not receive its own publishes on a no-local subscription",
      async () => {
        const topic = `nl/${uniqueId()}`;
        const s = await client();
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 1, nl: true });
        await s.publishAsync(topic, "own", { qos: 1 });
        const other = await client();
        await other.publishAsync(topic, "other", { qos: 1 });
        const m = await inbox.next();
        await inbox.expectNone(300);
        assertEquals(m.payload, "other");
        await closeClient(other);
        await closeClient(s);
      },
    );

    await t.step("retain-as-published keeps the retain flag on live delivery", async () => {
      const topic = `rap/${uniqueId()}`;
      const s = await client();
      const inbox = new Inbox(s);
      await s.subscribeAsync(topic, { qos: 1, rap: true });
      const pub = await client();
      await pub.publishAsync(topic, "kept", { qos: 1, retain: true });
      const m = await inbox.next();
      assertEquals(m.packet.retain, true);
      await pub.publishAsync(topic, "", { qos: 1, retain: true });
      await closeClient(pub);
      await closeClient(s);
    });

    await t.step(
      "retain handling 0 sends retained messages on every subscribe, 1 only for a new subscription, 2 never",
      async () => {
        const base = `rh/${uniqueId()}`;
        const pub = await client();
        for (const rh of [0, 1, 2]) {
          await pub.publishAsync(`${base}/${rh}`, `r${rh}`, { qos: 1, retain: true });
        }
        const counts: number[] = [];
        for (const rh of [0, 1, 2] as const) {
          const s = await client();
          const inbox = new Inbox(s);
          await s.subscribeAsync(`${base}/${rh}`, { qos: 1, rh });
          await s.subscribeAsync(`${base}/${rh}`, { qos: 1, rh });
          await sleep(400);
          counts.push(inbox.messages.length);
          await closeClient(s);
        }
        assertEquals(counts, [2, 1, 0]);
        for (const rh of [0, 1, 2]) {
          await pub.publishAsync(`${base}/${rh}`, "", { qos: 1, retain: true });
        }
        await closeClient(pub);
      },
    );

    await t.step(
      "payload format, content type, response topic, correlation data and user properties are forwarded",
      async () => {
        const topic = `props/${uniqueId()}`;
        const s = await client();
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 1 });
        const pub = await client();
        await pub.publishAsync(topic, '{"a":1}', {
          qos: 1,
          properties: {
            payloadFormatIndicator: true,
            contentType: "application/json",
            responseTopic: `${topic}/reply`,
            correlationData: Buffer.from([1, 2, 3, 255]),
            userProperties: { first: "1", second: ["2a", "2b"], third: "3" },
          },
        });
        const m = await inbox.next();
        const p = m.packet.properties ?? {};
        assertEquals(p.payloadFormatIndicator, true);
        assertEquals(p.contentType, "application/json");
        assertEquals(p.responseTopic, `${topic}/reply`);
        assertEquals(Array.from(p.correlationData ?? []), [1, 2, 3, 255]);
        const up = p.userProperties ?? {};
        assertEquals(Object.keys(up), ["first", "second", "third"], "user property order");
        assertEquals(up.second, ["2a", "2b"]);
        await closeClient(pub);
        await closeClient(s);
      },
    );

    await t.step(
      "a live delivery carries the message expiry interval, not more than published",
      async () => {
        const topic = `mxl/${uniqueId()}`;
        const s = await client();
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 1 });
        const pub = await client();
        await pub.publishAsync(topic, "x", { qos: 1, properties: { messageExpiryInterval: 60 } });
        const left = (await inbox.next()).packet.properties?.messageExpiryInterval;
        assert(typeof left === "number" && left > 0 && left <= 60, `messageExpiryInterval ${left}`);
        await closeClient(pub);
        await closeClient(s);
      },
    );

    await t.step(
      "a retained message sent on subscribe carries that subscription's identifier",
      async () => {
        const topic = `rsid/${uniqueId()}`;
        const pub = await client();
        await pub.publishAsync(topic, "r", { qos: 1, retain: true });
        const s = await client();
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 1, properties: { subscriptionIdentifier: 77 } });
        const m = await inbox.next();
        const ids = m.packet.properties?.subscriptionIdentifier;
        assertEquals(Array.isArray(ids) ? ids : [ids], [77]);
        await pub.publishAsync(topic, "", { qos: 1, retain: true });
        await closeClient(pub);
        await closeClient(s);
      },
    );

    await t.step(
      "an outgoing QoS 2 message counts against receive maximum until PUBCOMP",
      async () => {
        const topic = `rm2/${uniqueId()}`;
        const { client: r } = await raw({
          clientId: uniqueId("rm2"),
          properties: { receiveMaximum: 2 },
        });
        await rawSubscribe(r, topic, 2);
        const pub = await client();
        for (let i = 0; i < 4; i++) await pub.publishAsync(topic, `q${i}`, { qos: 2 });
        const first = await drainPublishes(r, 600);
        assertEquals(first.map((p) => String(p.payload)), ["q0", "q1"]);
        for (const p of first) r.sendPacket({ cmd: "pubrec", messageId: p.messageId });
        // PUBRELs come back, but no new PUBLISH while both are still awaiting PUBCOMP
        const after: Packet[] = [];
        const until = Date.now() + 600;
        while (Date.now() < until) {
          try {
            after.push(await r.next(Math.max(1, until - Date.now())));
          } catch {
            break;
          }
        }
        assertEquals(after.filter((p) => p.cmd === "pubrel").length, 2);
        assertEquals(
          after.filter((p) => p.cmd === "publish").length,
          0,
          "PUBLISH beyond receive maximum",
        );
        for (const p of first) r.sendPacket({ cmd: "pubcomp", messageId: p.messageId });
        const rest = await drainPublishes(r, 600);
        assertEquals(rest.map((p) => String(p.payload)), ["q2", "q3"]);
        for (const p of rest) r.sendPacket({ cmd: "pubrec", messageId: p.messageId });
        r.close();
        await closeClient(pub);
      },
    );

    await t.step(
      "request/response: a responder replies on the response topic with the correlation data",
      async () => {
        const reqTopic = `req/${uniqueId()}`;
        const responder = await client();
        await responder.subscribeAsync(reqTopic, { qos: 1 });
        responder.on("message", (_tp, payload, packet) => {
          const rt = packet.properties?.responseTopic;
          if (rt === undefined) return;
          responder.publish(rt, `re:${payload}`, {
            qos: 1,
            properties: { correlationData: packet.properties?.correlationData },
          });
        });
        const requester = await client();
        const inbox = new Inbox(requester);
        await requester.subscribeAsync(`${reqTopic}/resp`, { qos: 1 });
        await requester.publishAsync(reqTopic, "ping", {
          qos: 1,
          properties: { responseTopic: `${reqTopic}/resp`, correlationData: Buffer.from("c-1") },
        });
        const m = await inbox.next();
        assertEquals(m.payload, "re:ping");
        assertEquals(String(m.packet.properties?.correlationData), "c-1");
        await closeClient(requester);
        await closeClient(responder);
      },
    );
  } finally {
    tracked.closeAll();
    await b.stop();
  }
});
