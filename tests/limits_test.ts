/**
 * End to end: configured limits, each with the behaviour the README's limits table
 * promises when a client reaches it.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import {
  type BrokerHandle,
  edgemqStep,
  IS_MOSQUITTO,
  sleep,
  startBroker,
} from "./harness/broker.ts";
import {
  closeClient,
  connackOf,
  connectClient,
  Inbox,
  inboxOf,
  publishReason,
  uniqueId,
} from "./harness/clients.ts";
import { frame, mqttString, RawClient } from "./harness/raw.ts";

const LIMITS = {
  maxQueuedMessagesPerSession: 10,
  maxTopicBytes: 64,
  maxTopicLevels: 5,
  maxSubscriptionsPerSession: 5,
  maxFiltersPerSubscribe: 4,
  maxClientIdBytes: 32,
  maxConnections: 30,
  topicAliasMaximum: 3,
  maxSessionExpirySeconds: 5,
  maxInflightOutbound: 5,
  maxRetainedMessagesPerTenant: 5,
};

async function rawConnect(b: BrokerHandle, v: 4 | 5, clientId = uniqueId("lim")) {
  return await RawClient.connect(b.tcpPort, { clientId, protocolVersion: v });
}

/**
 * Open `count` v3.1.1 connections one after another, pushing each into conns;
 * returns how many were refused (non-zero CONNACK or no CONNACK at all).
 */
async function connectBurst(b: BrokerHandle, count: number, conns: RawClient[]): Promise<number> {
  let refused = 0;
  for (let i = 0; i < count; i++) {
    try {
      const { client, connack } = await rawConnect(b, 4);
      conns.push(client);
      if (connack.returnCode !== 0) refused++;
    } catch {
      refused++;
    }
  }
  return refused;
}

async function disconnectReason(r: RawClient): Promise<number | undefined> {
  const rest = await r.waitClosed(3000);
  const d = rest.find((p) => p.cmd === "disconnect");
  return d !== undefined && d.cmd === "disconnect" ? d.reasonCode : undefined;
}

Deno.test("configured limits", async (t) => {
  const b = await startBroker({ limits: LIMITS });
  const raws: RawClient[] = [];
  try {
    for (const v of [4, 5] as const) {
      const tag = v === 4 ? "v3.1.1" : "v5";
      await t.step(
        `${tag}: the offline queue keeps at most maxQueuedMessagesPerSession messages, dropping the newest`,
        async () => {
          const id = uniqueId("q");
          const topic = `lq/${id}`;
          const props = v === 5 ? { properties: { sessionExpiryInterval: 5 } } : {};
          const s1 = await connectClient(b, {
            protocolVersion: v,
            clientId: id,
            clean: false,
            ...props,
          });
          await s1.subscribeAsync(topic, { qos: 1 });
          await closeClient(s1);
          const pub = await connectClient(b, { protocolVersion: v });
          for (let i = 0; i < 25; i++) await pub.publishAsync(topic, `q${i}`, { qos: 1 });
          await closeClient(pub);
          const s2 = await connectClient(b, {
            protocolVersion: v,
            clientId: id,
            clean: false,
            ...props,
          });
          const inbox = inboxOf(s2);
          await inbox.waitCount(LIMITS.maxQueuedMessagesPerSession, 5000);
          await inbox.expectNone(500);
          assertEquals(
            inbox.messages.map((m) => m.payload),
            Array.from({ length: LIMITS.maxQueuedMessagesPerSession }, (_, i) => `q${i}`),
          );
          await closeClient(s2);
          const end = await connectClient(b, { protocolVersion: v, clientId: id, clean: true });
          await closeClient(end);
        },
      );
    }

    await edgemqStep(t, "v5: a PUBLISH topic over maxTopicBytes gets DISCONNECT 0x90", async () => {
      const { client: r } = await rawConnect(b, 5);
      raws.push(r);
      r.sendPacket({
        cmd: "publish",
        topic: "x".repeat(LIMITS.maxTopicBytes + 1),
        payload: "p",
        qos: 0,
        dup: false,
        retain: false,
      });
      assertEquals(await disconnectReason(r), 0x90);
    });

    await edgemqStep(
      t,
      "v3.1.1: a PUBLISH topic with more than maxTopicLevels levels closes the connection",
      async () => {
        const { client: r } = await rawConnect(b, 4);
        raws.push(r);
        r.sendPacket({
          cmd: "publish",
          topic: "a/b/c/d/e/f",
          payload: "p",
          qos: 0,
          dup: false,
          retain: false,
        });
        await r.waitClosed(3000);
      },
    );

    await edgemqStep(
      t,
      "filters over maxTopicBytes or maxTopicLevels get SUBACK 0x80 (v3.1.1) / 0x8F (v5)",
      async () => {
        for (const v of [4, 5] as const) {
          const { client: r } = await rawConnect(b, v);
          raws.push(r);
          r.sendPacket({
            cmd: "subscribe",
            messageId: 2,
            subscriptions: [
              { topic: "y".repeat(LIMITS.maxTopicBytes + 1), qos: 1 },
              { topic: "a/b/c/d/e/+", qos: 1 },
              { topic: "a/b/c/d/e", qos: 1 },
            ],
          });
          const ack = await r.expect("suback");
          const no = v === 4 ? 0x80 : 0x8f;
          assertEquals(ack.granted, [no, no, 1]);
          r.close();
        }
      },
    );

    await edgemqStep(
      t,
      "subscriptions beyond maxSubscriptionsPerSession get SUBACK 0x80 (v3.1.1) / 0x97 (v5)",
      async () => {
        for (const v of [4, 5] as const) {
          const { client: r } = await rawConnect(b, v);
          raws.push(r);
          for (let i = 0; i < LIMITS.maxSubscriptionsPerSession; i++) {
            r.sendPacket({
              cmd: "subscribe",
              messageId: i + 1,
              subscriptions: [{ topic: `ls/${i}`, qos: 1 }],
            });
            assertEquals((await r.expect("suback")).granted, [1]);
          }
          // re-subscribing an existing filter does not count as a new one
          r.sendPacket({
            cmd: "subscribe",
            messageId: 50,
            subscriptions: [{ topic: "ls/0", qos: 0 }],
          });
          assertEquals((await r.expect("suback")).granted, [0]);
          r.sendPacket({
            cmd: "subscribe",
            messageId: 51,
            subscriptions: [{ topic: "ls/extra", qos: 1 }],
          });
          assertEquals((await r.expect("suback")).granted, [v === 4 ? 0x80 : 0x97]);
          r.close();
        }
      },
    );

    await edgemqStep(
      t,
      "a SUBSCRIBE with more than maxFiltersPerSubscribe filters closes the connection (v5 DISCONNECT 0x97)",
      async () => {
        const problems: string[] = [];
        for (const v of [4, 5] as const) {
          const { client: r } = await rawConnect(b, v);
          raws.push(r);
          r.sendPacket({
            cmd: "subscribe",
            messageId: 3,
            subscriptions: Array.from(
              { length: LIMITS.maxFiltersPerSubscribe + 1 },
              (_, i) => ({ topic: `lf/${i}`, qos: 0 as const }),
            ),
          });
          try {
            const reason = await disconnectReason(r);
            if (v === 5 && reason !== 0x97) {
              problems.push(`v5: DISCONNECT reason ${reason}, want 0x97`);
            }
          } catch (e) {
            problems.push(
              `${v === 4 ? "v3.1.1" : "v5"}: not closed (${(e as Error).message}); got ${
                JSON.stringify(r.pending().map((p) => p.cmd === "suback" ? p.granted : p.cmd))
              }`,
            );
          }
        }
        assertEquals(problems, []);
      },
    );

    await edgemqStep(
      t,
      "a client id over maxClientIdBytes gets CONNACK 2 (v3.1.1) / 0x85 (v5)",
      async () => {
        const long = "c".repeat(LIMITS.maxClientIdBytes + 1);
        const r4 = await rawConnect(b, 4, long);
        raws.push(r4.client);
        assertEquals(r4.connack.returnCode, 2);
        const r5 = await rawConnect(b, 5, long);
        raws.push(r5.client);
        assertEquals(r5.connack.reasonCode, 0x85);
        const ok = await rawConnect(b, 5, "c".repeat(LIMITS.maxClientIdBytes));
        raws.push(ok.client);
        assertEquals(ok.connack.reasonCode, 0);
        ok.client.close();
      },
    );

    await edgemqStep(
      t,
      "v5: CONNACK announces topicAliasMaximum; an alias above it gets DISCONNECT 0x94",
      async () => {
        const { client: r, connack } = await rawConnect(b, 5);
        raws.push(r);
        assertEquals(connack.properties?.topicAliasMaximum, LIMITS.topicAliasMaximum);
        r.send(
          frame(0x30, [...mqttString("la/x"), 3, 0x23, 0, LIMITS.topicAliasMaximum + 1, 0x70]),
        );
        assertEquals(await disconnectReason(r), 0x94);
      },
    );

    await edgemqStep(
      t,
      "v5: a session expiry above maxSessionExpirySeconds is capped and announced in CONNACK",
      async () => {
        const c = await connectClient(b, {
          protocolVersion: 5,
          clean: false,
          properties: { sessionExpiryInterval: 100 },
        });
        assertEquals(
          connackOf(c).properties?.sessionExpiryInterval,
          LIMITS.maxSessionExpirySeconds,
        );
        await closeClient(c);
      },
    );

    await edgemqStep(
      t,
      "at most maxInflightOutbound QoS 1 deliveries are unacknowledged at once",
      async () => {
        const topic = `lio/${uniqueId()}`;
        const { client: r } = await rawConnect(b, 5);
        raws.push(r);
        r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 1 }] });
        await r.expect("suback");
        const pub = await connectClient(b, { protocolVersion: 5 });
        for (let i = 0; i < 12; i++) await pub.publishAsync(topic, `o${i}`, { qos: 1 });
        await sleep(700);
        const got = r.pending().filter((p) => p.cmd === "publish");
        assertEquals(got.length, LIMITS.maxInflightOutbound, "in flight without PUBACK");
        await closeClient(pub);
        r.close();
      },
    );

    await edgemqStep(
      t,
      "v5: a retained message beyond maxRetainedMessagesPerTenant gets PUBACK 0x97 and is not stored",
      async () => {
        const base = `lret/${uniqueId()}`;
        const pub = await connectClient(b, { protocolVersion: 5 });
        const codes: number[] = [];
        for (let i = 0; i <= LIMITS.maxRetainedMessagesPerTenant; i++) {
          codes.push(await publishReason(pub, `${base}/${i}`, `r${i}`, { qos: 1, retain: true }));
        }
        assertEquals(codes, [0, 0, 0, 0, 0, 0x97]);
        const s = await connectClient(b, { protocolVersion: 5 });
        const inbox = new Inbox(s);
        await s.subscribeAsync(`${base}/#`, { qos: 1 });
        await inbox.waitCount(LIMITS.maxRetainedMessagesPerTenant);
        await inbox.expectNone(300);
        // deleting one frees a slot
        await pub.publishAsync(`${base}/0`, "", { qos: 1, retain: true });
        assertEquals(await publishReason(pub, `${base}/5`, "r5", { qos: 1, retain: true }), 0);
        for (let i = 1; i <= 5; i++) {
          await pub.publishAsync(`${base}/${i}`, "", { qos: 1, retain: true });
        }
        await closeClient(s);
        await closeClient(pub);
      },
    );

    await edgemqStep(
      t,
      "connections beyond maxConnections are closed at once; a freed slot admits a new client",
      async () => {
        for (const r of raws) {
          r.close();
        }
        await sleep(500); // let the broker see earlier steps' connections close
        const conns: RawClient[] = [];
        try {
          const refused = await connectBurst(b, LIMITS.maxConnections + 5, conns);
          assertEquals(conns.filter((c) => !c.closed).length, LIMITS.maxConnections);
          assert(refused >= 5, `${refused} refused`);
        } finally {
          for (const c of conns) c.close();
        }
        await sleep(300);
        const again = await rawConnect(b, 4);
        assertEquals(again.connack.returnCode, 0);
        again.client.close();
      },
    );
  } finally {
    for (const r of raws) r.close();
    await b.stop();
  }
});

Deno.test({
  name:
    "v3.1.1: a client asking for more than maxKeepAliveSeconds is closed after 1.5 x the maximum of silence",
  ignore: IS_MOSQUITTO, // mosquitto refuses such a v3 CONNECT instead
  fn: async () => {
    const b = await startBroker({ maxKeepAliveSeconds: 2, ws: false });
    try {
      const { client: r, connack } = await rawConnect(b, 4);
      assertEquals(connack.returnCode, 0);
      const t0 = Date.now();
      try {
        await r.waitClosed(6000);
      } finally {
        r.close();
      }
      const elapsed = Date.now() - t0;
      assert(elapsed >= 1900 && elapsed <= 3900, `closed after ${elapsed} ms`);
    } finally {
      await b.stop();
    }
  },
});

Deno.test({
  name:
    "queueOverflowPolicy drop-oldest keeps the newest messages; maxConnectsPerSecond refuses bursts",
  ignore: IS_MOSQUITTO,
  fn: async () => {
    const b = await startBroker({
      ws: false,
      limits: {
        maxQueuedMessagesPerSession: 5,
        queueOverflowPolicy: "drop-oldest",
        maxConnectsPerSecond: 20,
      },
    });
    const conns: RawClient[] = [];
    try {
      const id = uniqueId("do");
      const topic = `do/${id}`;
      const s1 = await connectClient(b, { protocolVersion: 4, clientId: id, clean: false });
      await s1.subscribeAsync(topic, { qos: 1 });
      await closeClient(s1);
      const pub = await connectClient(b, { protocolVersion: 4 });
      for (let i = 0; i < 12; i++) await pub.publishAsync(topic, `d${i}`, { qos: 1 });
      await closeClient(pub);
      const s2 = await connectClient(b, { protocolVersion: 4, clientId: id, clean: false });
      const inbox = inboxOf(s2);
      await inbox.waitCount(5, 5000);
      await inbox.expectNone(300);
      assertEquals(inbox.messages.map((m) => m.payload), ["d7", "d8", "d9", "d10", "d11"]);
      await closeClient(s2);

      await sleep(1100); // a fresh one-second window
      const refused = await connectBurst(b, 60, conns);
      assert(refused >= 30, `only ${refused} of 60 burst connections refused at 20/s`);
      for (const c of conns) c.close();
      await sleep(1100);
      const again = await rawConnect(b, 4);
      assertEquals(again.connack.returnCode, 0);
      again.client.close();
    } finally {
      for (const c of conns) c.close();
      await b.stop();
    }
  },
});
