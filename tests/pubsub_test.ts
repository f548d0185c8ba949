/**
 * End to end: MQTT.js 3.1.1 and 5.0 clients over TCP and WebSocket — CONNACK,
 * QoS 0/1/2 round trips, retained messages, overlapping and shared
 * subscriptions, and `$`-topics.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import { edgemqStep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connackOf,
  connectClient,
  Inbox,
  type MqttClient,
  type Transport,
  uniqueId,
} from "./harness/clients.ts";

const TRANSPORTS: Transport[] = ["tcp", "ws"];
const VERSIONS: (4 | 5)[] = [4, 5];

Deno.test("MQTT.js pub/sub over TCP and WebSocket", async (t) => {
  const b = await startBroker();
  const open: MqttClient[] = [];
  const client = async (v: 4 | 5, transport: Transport = "tcp", extra = {}) => {
    const c = await connectClient(b, { protocolVersion: v, transport, ...extra });
    open.push(c);
    return c;
  };
  try {
    for (const transport of TRANSPORTS) {
      for (const v of VERSIONS) {
        const tag = `v${v === 4 ? "3.1.1" : "5"} ${transport}`;

        await t.step(
          `${tag}: a clean connect gets CONNACK success without session present`,
          async () => {
            const c = await client(v, transport);
            const ack = connackOf(c);
            assertEquals(ack.returnCode ?? ack.reasonCode ?? 0, 0);
            assertEquals(ack.sessionPresent, false);
            await closeClient(c);
          },
        );

        await t.step(
          `${tag}: QoS 0, 1 and 2 messages round trip at the published QoS`,
          async () => {
            const topic = `rt/${uniqueId()}`;
            const sub = await client(v, transport);
            const inbox = new Inbox(sub);
            const granted = await sub.subscribeAsync(topic, { qos: 2 });
            assertEquals(granted[0].qos, 2);
            const pub = await client(v, transport);
            for (const qos of [0, 1, 2] as const) {
              await pub.publishAsync(topic, `m${qos}`, { qos });
              const m = await inbox.next();
              assertEquals(m.topic, topic);
              assertEquals(m.payload, `m${qos}`);
              assertEquals(m.packet.qos, qos);
              assertEquals(m.packet.retain, false);
            }
            await inbox.expectNone(200);
            await closeClient(pub);
            await closeClient(sub);
          },
        );

        await t.step(
          `${tag}: delivery QoS is the minimum of published and granted QoS`,
          async () => {
            const topic = `down/${uniqueId()}`;
            const sub = await client(v, transport);
            const inbox = new Inbox(sub);
            await sub.subscribeAsync(topic, { qos: 1 });
            const pub = await client(v, transport);
            await pub.publishAsync(topic, "x", { qos: 2 });
            assertEquals((await inbox.next()).packet.qos, 1);
            await pub.publishAsync(topic, "y", { qos: 0 });
            assertEquals((await inbox.next()).packet.qos, 0);
            await closeClient(pub);
            await closeClient(sub);
          },
        );

        await t.step(
          `${tag}: a binary payload with every byte value arrives unchanged`,
          async () => {
            const topic = `bin/${uniqueId()}`;
            const sub = await client(v, transport);
            const got = new Promise<Uint8Array>((r) => sub.once("message", (_t, p) => r(p)));
            await sub.subscribeAsync(topic, { qos: 1 });
            const pub = await client(v, transport);
            const payload = new Uint8Array(256 * 4).map((_, i) => i % 256);
            await pub.publishAsync(topic, payload as unknown as string, { qos: 1 });
            const p = await Promise.race([
              got,
              new Promise<never>((_, rej) => {
                const tm = setTimeout(() => rej(new Error("no message")), 3000);
                got.finally(() => clearTimeout(tm));
              }),
            ]);
            assertEquals(Array.from(p), Array.from(payload));
            await closeClient(pub);
            await closeClient(sub);
          },
        );
      }
    }

    for (const v of VERSIONS) {
      const tag = `v${v === 4 ? "3.1.1" : "5"}`;
      await t.step(`${tag}: wildcard filters + and # match the right topics`, async () => {
        const base = `wc/${uniqueId()}`;
        const sub = await client(v);
        const plus = new Inbox(sub);
        await sub.subscribeAsync([`${base}/+/x`, `${base}/h/#`], { qos: 0 });
        const pub = await client(v);
        for (
          const tp of [`${base}/a/x`, `${base}/a/y`, `${base}/a/b/x`, `${base}/h`, `${base}/h/1/2`]
        ) {
          await pub.publishAsync(tp, tp, { qos: 1 });
        }
        await plus.waitCount(3);
        await plus.expectNone(300);
        assertEquals(plus.messages.map((m) => m.topic).sort(), [
          `${base}/a/x`,
          `${base}/h`,
          `${base}/h/1/2`,
        ]);
        await closeClient(pub);
        await closeClient(sub);
      });

      await t.step(
        `${tag}: retained message is set, replaced, and deleted by an empty payload`,
        async () => {
          const topic = `ret/${uniqueId()}`;
          const pub = await client(v);
          await pub.publishAsync(topic, "first", { qos: 1, retain: true });
          await pub.publishAsync(topic, "second", { qos: 1, retain: true });
          const s1 = await client(v);
          const in1 = new Inbox(s1);
          await s1.subscribeAsync(topic, { qos: 1 });
          const m = await in1.next();
          assertEquals(m.payload, "second");
          assertEquals(m.packet.retain, true);
          await in1.expectNone(200);
          // a live subscriber sees a retained publish with retain=0 (v3.1.1 / RAP=0)
          await pub.publishAsync(topic, "third", { qos: 1, retain: true });
          const live = await in1.next();
          assertEquals(live.payload, "third");
          assertEquals(live.packet.retain, false);
          await pub.publishAsync(topic, "", { qos: 1, retain: true });
          const s2 = await client(v);
          const in2 = new Inbox(s2);
          await s2.subscribeAsync(topic, { qos: 1 });
          await in2.expectNone(400);
          await closeClient(s1);
          await closeClient(s2);
          await closeClient(pub);
        },
      );

      await t.step(`${tag}: retained messages match wildcard subscriptions`, async () => {
        const base = `retwc/${uniqueId()}`;
        const pub = await client(v);
        await pub.publishAsync(`${base}/a/1`, "a1", { qos: 1, retain: true });
        await pub.publishAsync(`${base}/b/1`, "b1", { qos: 1, retain: true });
        await pub.publishAsync(`${base}/b/2`, "b2", { qos: 1, retain: true });
        const s = await client(v);
        const inbox = new Inbox(s);
        await s.subscribeAsync(`${base}/+/1`, { qos: 1 });
        await inbox.waitCount(2);
        await inbox.expectNone(200);
        assertEquals(inbox.messages.map((m) => m.payload).sort(), ["a1", "b1"]);
        for (const tp of [`${base}/a/1`, `${base}/b/1`, `${base}/b/2`]) {
          await pub.publishAsync(tp, "", { qos: 1, retain: true });
        }
        await closeClient(s);
        await closeClient(pub);
      });

      await t.step(
        `${tag}: topics starting with $ are not matched by # or +/x but by $x/#`,
        async () => {
          const id = uniqueId();
          const all = await client(v);
          const allIn = new Inbox(all);
          await all.subscribeAsync(["#", `+/${id}`], { qos: 0 });
          const dollar = await client(v);
          const dIn = new Inbox(dollar);
          await dollar.subscribeAsync(`$edge/#`, { qos: 0 });
          const pub = await client(v);
          await pub.publishAsync(`$edge/${id}`, "hidden", { qos: 1 });
          const m = await dIn.next();
          assertEquals(m.topic, `$edge/${id}`);
          // Any message the # subscriber gets must not be the $ one (other tests publish too).
          await new Promise((r) => setTimeout(r, 300));
          assert(
            !allIn.messages.some((x) => x.topic.startsWith("$")),
            `# or +/x matched a $ topic: ${allIn.messages.map((x) => x.topic).join(",")}`,
          );
          await closeClient(pub);
          await closeClient(all);
          await closeClient(dollar);
        },
      );

      await t.step(
        `${tag}: a shared subscription delivers each message to exactly one member`,
        async () => {
          const topic = `shared/${uniqueId()}`;
          const members: Inbox[] = [];
          for (let i = 0; i < 3; i++) {
            const m = await client(v);
            await m.subscribeAsync(`$share/g1/${topic}`, { qos: 1 });
            members.push(new Inbox(m));
          }
          const plain = await client(v);
          const plainIn = new Inbox(plain);
          await plain.subscribeAsync(topic, { qos: 1 });
          const pub = await client(v);
          const n = 30;
          for (let i = 0; i < n; i++) await pub.publishAsync(topic, `s${i}`, { qos: 1 });
          await plainIn.waitCount(n);
          const deadline = Date.now() + 5000;
          const total = () => members.reduce((a, m) => a + m.messages.length, 0);
          while (total() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          await new Promise((r) => setTimeout(r, 200));
          const payloads = members.flatMap((m) => m.messages.map((x) => x.payload)).sort();
          const expected = Array.from({ length: n }, (_, i) => `s${i}`).sort();
          assertEquals(payloads, expected, "every message once across the group");
          for (const m of members) {
            for (const x of m.messages) {
              assertEquals(x.topic, topic, "delivered with the plain topic");
            }
          }
          await closeClient(pub);
          await closeClient(plain);
          for (const m of members) {
            await closeClient(m.client);
          }
        },
      );

      await t.step(
        `${tag}: two shared groups on one filter each get every message once`,
        async () => {
          const topic = `shared2/${uniqueId()}`;
          const a = await client(v);
          const bb = await client(v);
          await a.subscribeAsync(`$share/ga/${topic}`, { qos: 1 });
          await bb.subscribeAsync(`$share/gb/${topic}`, { qos: 1 });
          const ia = new Inbox(a);
          const ib = new Inbox(bb);
          const pub = await client(v);
          for (let i = 0; i < 5; i++) await pub.publishAsync(topic, `g${i}`, { qos: 1 });
          await ia.waitCount(5);
          await ib.waitCount(5);
          await ia.expectNone(200);
          await ib.expectNone(0);
          await closeClient(pub);
          await closeClient(a);
          await closeClient(bb);
        },
      );
    }

    for (const v of VERSIONS) {
      const tag = `v${v === 4 ? "3.1.1" : "5"}`;
      await t.step(`${tag}: after UNSUBSCRIBE no more messages arrive on that filter`, async () => {
        const topic = `unsub/${uniqueId()}`;
        const s = await client(v);
        const inbox = new Inbox(s);
        await s.subscribeAsync([topic, `${topic}/keep`], { qos: 1 });
        const pub = await client(v);
        await pub.publishAsync(topic, "before", { qos: 1 });
        assertEquals((await inbox.next()).payload, "before");
        await s.unsubscribeAsync(topic);
        await pub.publishAsync(topic, "after", { qos: 1 });
        await pub.publishAsync(`${topic}/keep`, "kept", { qos: 1 });
        const m = await inbox.next();
        assertEquals(m.payload, "kept", "only the other subscription remains");
        await inbox.expectNone(300);
        await closeClient(pub);
        await closeClient(s);
      });

      await t.step(
        `${tag}: a retained message is delivered at the lower of its QoS and the granted QoS`,
        async () => {
          const topic = `retq/${uniqueId()}`;
          const pub = await client(v);
          await pub.publishAsync(topic, "r2", { qos: 2, retain: true });
          for (const [sq, want] of [[0, 0], [1, 1], [2, 2]] as const) {
            const s = await client(v);
            const inbox = new Inbox(s);
            await s.subscribeAsync(topic, { qos: sq });
            const m = await inbox.next();
            assertEquals([m.payload, m.packet.qos, m.packet.retain], ["r2", want, true]);
            await closeClient(s);
          }
          await pub.publishAsync(topic, "", { qos: 1, retain: true });
          await closeClient(pub);
        },
      );

      await t.step(
        `${tag}: 1000 QoS 1 messages from one publisher arrive complete and in order`,
        async () => {
          const topic = `order/${uniqueId()}`;
          const s = await client(v);
          const inbox = new Inbox(s);
          await s.subscribeAsync(topic, { qos: 1 });
          const pub = await client(v);
          const n = 1000;
          const acks: Promise<unknown>[] = [];
          for (let i = 0; i < n; i++) acks.push(pub.publishAsync(topic, String(i), { qos: 1 }));
          await Promise.all(acks);
          await inbox.waitCount(n, 15_000);
          await inbox.expectNone(200);
          const got = inbox.messages.map((m) => Number(m.payload));
          assertEquals(got, Array.from({ length: n }, (_, i) => i));
          await closeClient(pub);
          await closeClient(s);
        },
      );

      await t.step(`${tag}: a 512 KiB payload round trips intact`, async () => {
        const topic = `large/${uniqueId()}`;
        const s = await client(v);
        const got = new Promise<Uint8Array>((r) => s.once("message", (_t, p) => r(p)));
        await s.subscribeAsync(topic, { qos: 1 });
        const pub = await client(v);
        const payload = new Uint8Array(512 * 1024).map((_, i) => (i * 7) % 251);
        await pub.publishAsync(topic, payload as unknown as string, { qos: 1 });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const p = await Promise.race([
          got,
          new Promise<never>((_, rej) =>
            timer = setTimeout(() => rej(new Error("no message")), 5000)
          ),
        ]).finally(() => clearTimeout(timer));
        assertEquals(p.length, payload.length);
        assert(p.every((x, i) => x === payload[i]), "payload bytes differ");
        await closeClient(pub);
        await closeClient(s);
      });

      await t.step(
        `${tag}: UTF-8 topics with spaces and non-ASCII characters match exactly`,
        async () => {
          const topic = `utf8/${uniqueId()}/caf\u00e9 \u6e29\u5ea6/\u{1f600}`;
          const s = await client(v);
          const inbox = new Inbox(s);
          await s.subscribeAsync(`utf8/+/caf\u00e9 \u6e29\u5ea6/#`, { qos: 1 });
          const pub = await client(v);
          await pub.publishAsync(topic, "u", { qos: 1 });
          await pub.publishAsync(topic.replace("caf\u00e9", "cafe"), "not", { qos: 1 });
          assertEquals((await inbox.next()).topic, topic);
          await inbox.expectNone(300);
          await closeClient(pub);
          await closeClient(s);
        },
      );
    }

    await t.step(
      "v5: a retained message whose expiry passed is not delivered to new subscribers",
      async () => {
        const topic = `retexp/${uniqueId()}`;
        const pub = await client(5);
        await pub.publishAsync(topic, "short-lived", {
          qos: 1,
          retain: true,
          properties: { messageExpiryInterval: 1 },
        });
        await new Promise((r) => setTimeout(r, 2200));
        const s = await client(5);
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 1 });
        await inbox.expectNone(400);
        // the subscription itself works: a live message still arrives
        await pub.publishAsync(topic, "live", { qos: 1 });
        assertEquals((await inbox.next()).payload, "live");
        await closeClient(s);
        await closeClient(pub);
      },
    );

    // MQTT 5 §3.3.1.3: retained messages go to new *non-shared* subscriptions only;
    // mosquitto 2.0.11 sends them to shared ones too.
    await t.step("v5: a retained message is delivered with its remaining expiry", async () => {
      const topic = `retexp2/${uniqueId()}`;
      const pub = await client(5);
      await pub.publishAsync(topic, "aging", {
        qos: 1,
        retain: true,
        properties: { messageExpiryInterval: 60 },
      });
      await new Promise((r) => setTimeout(r, 2100));
      const s = await client(5);
      const inbox = new Inbox(s);
      await s.subscribeAsync(topic, { qos: 1 });
      const left = (await inbox.next()).packet.properties?.messageExpiryInterval;
      assert(typeof left === "number" && left <= 58 && left > 0, `remaining expiry ${left}`);
      await pub.publishAsync(topic, "", { qos: 1, retain: true });
      await closeClient(s);
      await closeClient(pub);
    });

    await edgemqStep(
      t,
      "v5: a new shared subscription does not receive retained messages",
      async () => {
        const topic = `shret/${uniqueId()}`;
        const pub = await client(5);
        await pub.publishAsync(topic, "r", { qos: 1, retain: true });
        const s = await client(5);
        const inbox = new Inbox(s);
        await s.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
        await inbox.expectNone(400);
        // the shared subscription itself works: a live message arrives
        await pub.publishAsync(topic, "live", { qos: 1 });
        assertEquals((await inbox.next()).payload, "live");
        await pub.publishAsync(topic, "", { qos: 1, retain: true });
        await closeClient(s);
        await closeClient(pub);
      },
    );

    await t.step(
      "MQTT 3.1 (MQIsdp) clients connect and exchange messages with 3.1.1 and 5 clients",
      async () => {
        const topic = `v31/${uniqueId()}`;
        const s = await connectClient(b, {
          protocolVersion: 3,
          protocolId: "MQIsdp",
          clientId: uniqueId("v31").slice(-23),
        });
        open.push(s);
        const inbox = new Inbox(s);
        await s.subscribeAsync(topic, { qos: 2 });
        const p5 = await client(5);
        await p5.publishAsync(topic, "to31", { qos: 2 });
        const m = await inbox.next();
        assertEquals([m.payload, m.packet.qos], ["to31", 2]);
        await closeClient(p5);
        await closeClient(s);
      },
    );

    // mosquitto 2.0.11 does not follow the spec here (one copy per subscription, or the
    // first match's QoS), so these two run against edgemq only.
    await edgemqStep(
      t,
      "v5: overlapping subscriptions deliver one copy at the max QoS with every subscription id",
      async () => {
        const base = `ov/${uniqueId()}`;
        const sub = await client(5);
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(`${base}/+/x`, {
          qos: 1,
          properties: { subscriptionIdentifier: 7 },
        });
        await sub.subscribeAsync(`${base}/#`, {
          qos: 2,
          properties: { subscriptionIdentifier: 9 },
        });
        const pub = await client(5);
        await pub.publishAsync(`${base}/a/x`, "ov", { qos: 2 });
        const m = await inbox.next();
        await inbox.expectNone(400);
        assertEquals(m.packet.qos, 2);
        const ids = m.packet.properties?.subscriptionIdentifier;
        const list = Array.isArray(ids) ? [...ids].sort() : [ids];
        assertEquals(list, [7, 9]);
        await closeClient(pub);
        await closeClient(sub);
      },
    );

    await edgemqStep(
      t,
      "v3.1.1: overlapping subscriptions deliver one copy at the max QoS",
      async () => {
        const base = `ov4/${uniqueId()}`;
        const sub = await client(4);
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(`${base}/+`, { qos: 0 });
        await sub.subscribeAsync(`${base}/#`, { qos: 2 });
        const pub = await client(4);
        await pub.publishAsync(`${base}/a`, "ov", { qos: 2 });
        const m = await inbox.next();
        await inbox.expectNone(400);
        assertEquals(m.packet.qos, 2, "delivered at the maximum granted QoS");
        await closeClient(pub);
        await closeClient(sub);
      },
    );
  } finally {
    for (const c of open) c.end(true);
    await b.stop();
  }
});
