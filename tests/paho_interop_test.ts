/**
 * End to end: behaviour the Eclipse Paho interoperability tests (client_test.py for
 * 3.1.1, client_test5.py for 5.0) depend on, reproduced with our own raw clients.
 * Each step names the behaviour; the Paho test it guards is in the comment above it.
 * tests/FINDINGS.md "Paho interop (QA)" has the packet-level details (P1, P2, config).
 *
 * The broker is configured as the Paho suite assumes: one ACL rule refusing
 * subscriptions to `test/nosubscribe`, v5 ACL refusals reported as SUBACK 0x80,
 * server keep-alive cap 60 s, client topic aliases allowed.
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./harness/assert.ts";
import { IS_MOSQUITTO, startBroker } from "./harness/broker.ts";
import { uniqueId } from "./harness/clients.ts";
import { type Packet, RawClient } from "./harness/raw.ts";

const NOSUBSCRIBE = "test/nosubscribe";

type Version = 4 | 5;

/** Granted QoS / reason codes of the next SUBACK. */
async function subscribeCodes(
  c: RawClient,
  messageId: number,
  filters: { topic: string; qos: 0 | 1 | 2; nl?: boolean }[],
): Promise<number[]> {
  c.sendPacket({ cmd: "subscribe", messageId, subscriptions: filters });
  const ack = await c.expect("suback");
  assertEquals(ack.messageId, messageId, "SUBACK packet identifier");
  return ack.granted as number[];
}

/** A PUBLISH packet. */
function publish(
  topic: string,
  payload: string | Buffer,
  qos: 0 | 1 | 2,
  messageId?: number,
  retain = false,
): Packet {
  return { cmd: "publish", topic, payload, qos, retain, dup: false, messageId };
}

/**
 * Collect PUBLISHes (acknowledging QoS 1 and 2) for ms milliseconds, or until one on
 * `until` arrives.
 */
async function collect(c: RawClient, ms: number, until?: string): Promise<Packet[]> {
  const out: Packet[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end && !out.some((p) => (p as { topic: string }).topic === until)) {
    let p: Packet;
    try {
      p = await c.next(Math.max(1, end - Date.now()));
    } catch {
      break;
    }
    if (p.cmd === "publish") {
      out.push(p);
      if (p.qos === 1) c.sendPacket({ cmd: "puback", messageId: p.messageId! });
      if (p.qos === 2) c.sendPacket({ cmd: "pubrec", messageId: p.messageId! });
    } else if (p.cmd === "pubrel") {
      c.sendPacket({ cmd: "pubcomp", messageId: p.messageId! });
    }
  }
  return out;
}

Deno.test("paho interop", async (t) => {
  const b = await startBroker({
    ws: false,
    maxKeepAliveSeconds: 60,
    acl: [{ action: "subscribe", topic: NOSUBSCRIBE, allow: false }],
    limits: { topicAliasMaximum: 16 },
    extraMqtt: IS_MOSQUITTO ? undefined : { v5SubscribeDeniedReasonCode: "0x80" },
  });
  const raws: RawClient[] = [];
  const raw = async (v: Version, clientId = uniqueId("pi")) => {
    const r = await RawClient.connect(b.tcpPort, { clientId, protocolVersion: v });
    raws.push(r.client);
    assertEquals(r.connack.returnCode ?? r.connack.reasonCode ?? 0, 0, "CONNACK code");
    return r.client;
  };
  try {
    for (const v of [4, 5] as const) {
      const tag = v === 4 ? "v3.1.1" : "v5";

      // Paho test_subscribe_failure (3.1.1 and 5.0: `== 0x80`).
      await t.step({
        name: `${tag}: a subscription the ACL refuses gets SUBACK 0x80`,
        ignore: IS_MOSQUITTO, // the mosquitto harness has no ACL
        fn: async () => {
          const c = await raw(v);
          assertEquals(await subscribeCodes(c, 1, [{ topic: NOSUBSCRIBE, qos: 2 }]), [0x80]);
        },
      });

      // P1. Paho test_retained_message(s), test_offline_message_queueing, test_dollar_topics,
      // test_subscribe_options and the suite's cleanup subscribe to `+/+` and `#`.
      await t.step({
        name:
          `${tag}: a deny rule for one topic does not refuse wildcard filters that overlap it (+/+, #)`,
        ignore: IS_MOSQUITTO,
        fn: async () => {
          const c = await raw(v);
          assertEquals(
            await subscribeCodes(c, 1, [{ topic: "+/+", qos: 2 }, { topic: "#", qos: 0 }]),
            [2, 0],
            "SUBACK for +/+ and #",
          );
        },
      });

      // P1, continued: granting `+/+` must not leak the denied topic.
      await t.step({
        name: `${tag}: a wildcard subscriber still gets no message on the denied topic`,
        ignore: IS_MOSQUITTO,
        fn: async () => {
          const sub = await raw(v);
          assertEquals(await subscribeCodes(sub, 1, [{ topic: "+/+", qos: 1 }]), [1]);
          const pub = await raw(v);
          const other = `pi${v}/${uniqueId()}`;
          pub.sendPacket(publish(NOSUBSCRIBE, "x", 1, 1));
          pub.sendPacket(publish(other, "y", 1, 2));
          // same publisher, same subscriber: a leaked message would arrive before `other`
          const got = await collect(sub, 2_000, other);
          assertEquals(got.map((p) => (p as { topic: string }).topic), [other]);
        },
      });

      // P1, the Paho retained sequence: three retained messages (QoS 0, 1, 2), then `+/+`.
      await t.step({
        name: `${tag}: retained messages at QoS 0, 1 and 2 all arrive on a +/+ subscription`,
        ignore: IS_MOSQUITTO,
        fn: async () => {
          const c = await raw(v);
          const root = `pr${v}${uniqueId()}`;
          const topics = [`${root}/B`, `${root}/C`, `${root}/D`];
          for (const [qos, topic] of topics.entries()) {
            c.sendPacket(
              publish(
                topic,
                `qos ${qos}`,
                qos as 0 | 1 | 2,
                qos === 0 ? undefined : 10 + qos,
                true,
              ),
            );
          }
          // PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2
          for (let acks = 0; acks < 2;) {
            const p = await c.next();
            if (p.cmd === "puback" || p.cmd === "pubcomp") acks++;
            if (p.cmd === "pubrec") c.sendPacket({ cmd: "pubrel", messageId: p.messageId! });
          }
          const s = await raw(v);
          const granted = await subscribeCodes(s, 1, [{ topic: "+/+", qos: 2 }]);
          assertEquals(granted, [2], "SUBACK for +/+");
          const got = (await collect(s, 800)).filter((p) =>
            (p as { topic: string }).topic.startsWith(`${root}/`)
          );
          assertEquals(got.length, 3, "retained messages received");
          assert(got.every((p) => (p as { retain: boolean }).retain), "retain flag set");
          assertEquals(got.map((p) => (p as { qos: number }).qos).sort(), [0, 1, 2]);
          for (const topic of topics) {
            c.sendPacket(publish(topic, Buffer.alloc(0), 0, undefined, true));
          }
        },
      });

      // P2. Paho test_request_response and test_subscribe_options (noLocal part): B's
      // SUBSCRIBE, then at once A's PUBLISH, without waiting for B's SUBACK.
      await t.step(
        `${tag}: a subscription is in force once its SUBSCRIBE is read: another client's PUBLISH right after it is delivered`,
        async () => {
          const rounds = 16;
          let delivered = 0;
          for (let i = 0; i < rounds; i++) {
            const a = await raw(v);
            const bc = await raw(v);
            const topic = `race${v}/${uniqueId()}`;
            bc.sendPacket({
              cmd: "subscribe",
              messageId: 1,
              subscriptions: [{ topic, qos: 1, ...(v === 5 ? { nl: true } : {}) }],
            });
            // A's PUBLISH goes out right behind B's SUBSCRIBE, as in the Paho test
            a.sendPacket(publish(topic, "request", 1, 1));
            const got = await collect(bc, 400, topic);
            if (got.some((p) => (p as { topic: string }).topic === topic)) delivered++;
            a.close();
            bc.close();
          }
          // One miss is tolerated (the two packets may be read in one poll).
          assert(
            delivered >= rounds - 1,
            `B received the PUBLISH in ${delivered} of ${rounds} rounds`,
          );
        },
      );
    }

    // Paho client_test5 test_server_keep_alive: asks 120, expects Server Keep Alive 60.
    await t.step(
      "v5: keep-alive 120 above the 60 s cap is answered with Server Keep Alive 60",
      async () => {
        const r = await RawClient.connect(b.tcpPort, {
          clientId: uniqueId("pk"),
          protocolVersion: 5,
          keepalive: 120,
        });
        raws.push(r.client);
        assertEquals(r.connack.reasonCode ?? 0, 0);
        assertEquals(r.connack.properties?.serverKeepAlive, 60);
      },
    );
  } finally {
    for (const r of raws) r.close();
    await b.stop();
  }
});
