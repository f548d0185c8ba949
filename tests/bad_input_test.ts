/**
 * Bad input over raw sockets: each malformed or illegal packet gets the protocol's
 * error (reason code or close), the broker keeps serving a normal client, stays
 * alive, and its memory stays bounded — including under a seeded mutation storm and
 * hundreds of half-open connections.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import {
  type BrokerHandle,
  edgemqStep,
  IS_MOSQUITTO,
  sleep,
  startBroker,
} from "./harness/broker.ts";
import { closeClient, connectClient, Inbox, uniqueId } from "./harness/clients.ts";
import { encode, frame, mqttString, type Packet, RawClient, varInt } from "./harness/raw.ts";
import { mulberry32 } from "./harness/rng.ts";

const CONNECT_TIMEOUT_MS = 1000;
const MAX_PACKET_BYTES = 1_048_576;

/** A normal client can still do a QoS 1 round trip, and the process is alive. */
async function assertServes(b: BrokerHandle): Promise<void> {
  assert(b.alive(), "broker process died");
  const c = await connectClient(b, { protocolVersion: 4 });
  try {
    const topic = `alive/${uniqueId()}`;
    const inbox = new Inbox(c);
    await c.subscribeAsync(topic, { qos: 1 });
    await c.publishAsync(topic, "ok", { qos: 1 });
    assertEquals((await inbox.next(3000)).payload, "ok");
  } finally {
    await closeClient(c);
  }
}

/** Wait for the broker to close; return the reason code of a DISCONNECT it sent, if any. */
async function closedWith(r: RawClient, timeoutMs = 3000): Promise<number | undefined> {
  const rest = await r.waitClosed(timeoutMs);
  const d = rest.find((p) => p.cmd === "disconnect");
  return d !== undefined && d.cmd === "disconnect" ? d.reasonCode : undefined;
}

/** A v5 DISCONNECT, if sent, must carry one of the allowed reason codes. */
function assertReason(code: number | undefined, allowed: number[], what: string): void {
  if (code === undefined) return; // closing without DISCONNECT is allowed
  assert(
    allowed.includes(code),
    `${what}: DISCONNECT reason 0x${code.toString(16)}, want one of ${
      allowed.map((c) => "0x" + c.toString(16))
    }`,
  );
}

Deno.test("bad input never crashes the broker", async (t) => {
  const b = await startBroker({
    limits: { connectTimeoutMs: CONNECT_TIMEOUT_MS, maxPacketBytes: MAX_PACKET_BYTES },
  });
  const raws: RawClient[] = [];
  const open = async (v: 3 | 4 | 5 = 4) => {
    const r = await RawClient.open(b.tcpPort, v);
    raws.push(r);
    return r;
  };
  const connected = async (v: 4 | 5) => {
    const { client, connack } = await RawClient.connect(b.tcpPort, {
      clientId: uniqueId("bad"),
      protocolVersion: v,
    });
    raws.push(client);
    assertEquals(connack.returnCode ?? connack.reasonCode ?? 0, 0);
    return client;
  };
  const publishBytes = (topic: Uint8Array, qos: number, withId: boolean, props?: number[]) => {
    const body = [...mqttString(topic)];
    if (withId) body.push(0, 1);
    if (props !== undefined) body.push(...varInt(props.length), ...props);
    body.push(...new TextEncoder().encode("payload"));
    return frame(0x30 | (qos << 1), body);
  };
  const rssStart = await b.rssKb();
  try {
    await t.step("garbage bytes instead of CONNECT close the connection", async () => {
      const r = await open();
      const rand = mulberry32(1);
      r.send(new Uint8Array(1024).map(() => Math.floor(rand() * 256)));
      await r.waitClosed(3000);
      await assertServes(b);
    });

    await t.step("a 5-byte remaining length closes the connection", async () => {
      const r = await open();
      r.send(new Uint8Array([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]));
      await r.waitClosed(3000);
      await assertServes(b);
    });

    await t.step(
      "a huge announced remaining length followed by silence does not grow memory",
      async () => {
        const before = await b.rssKb();
        const conns: RawClient[] = [];
        for (let i = 0; i < 20; i++) {
          const r = await open();
          conns.push(r);
          r.send(new Uint8Array([0x10, ...varInt(200_000_000), 0, 4, 0x4d, 0x51]));
        }
        // and after a valid CONNECT: a PUBLISH announcing 100 MB
        const c = await connected(5);
        c.send(new Uint8Array([0x30, ...varInt(100_000_000), 0, 1, 0x61]));
        const reason = await closedWith(c, 3000);
        assertReason(reason, [0x95], "oversized PUBLISH");
        await sleep(500);
        const after = await b.rssKb();
        assert(after - before < 30_000, `RSS grew by ${after - before} KiB`);
        if (!IS_MOSQUITTO) {
          for (const r of conns) await r.waitClosed(3000);
        }
        for (const r of conns) r.close();
        await assertServes(b);
      },
    );

    await t.step("PUBLISH before CONNECT closes the connection", async () => {
      const r = await open();
      r.sendPacket({
        cmd: "publish",
        topic: "early/x",
        payload: "x",
        qos: 0,
        dup: false,
        retain: false,
      });
      await r.waitClosed(3000);
      await assertServes(b);
    });

    for (const v of [4, 5] as const) {
      const tag = v === 4 ? "v3.1.1" : "v5";
      await t.step(
        `${tag}: a second CONNECT is a protocol error that closes the connection`,
        async () => {
          const r = await connected(v);
          r.sendPacket({
            cmd: "connect",
            protocolId: "MQTT",
            protocolVersion: v,
            clean: true,
            clientId: uniqueId("again"),
            keepalive: 60,
          });
          assertReason(await closedWith(r), [0x82], "second CONNECT");
          await assertServes(b);
        },
      );

      await t.step(`${tag}: invalid UTF-8 in a PUBLISH topic closes the connection`, async () => {
        const r = await connected(v);
        r.send(
          publishBytes(
            new Uint8Array([0x61, 0x2f, 0xff, 0xfe]),
            0,
            false,
            v === 5 ? [] : undefined,
          ),
        );
        assertReason(await closedWith(r), [0x81, 0x82], "invalid UTF-8 topic");
        await assertServes(b);
      });

      await t.step(`${tag}: a NUL character in a PUBLISH topic closes the connection`, async () => {
        const r = await connected(v);
        r.send(
          publishBytes(new Uint8Array([0x61, 0x00, 0x62]), 0, false, v === 5 ? [] : undefined),
        );
        assertReason(await closedWith(r), [0x81, 0x82], "NUL in topic");
        await assertServes(b);
      });

      await t.step(
        `${tag}: invalid UTF-8 in a SUBSCRIBE filter closes the connection`,
        async () => {
          const r = await connected(v);
          const body = [
            0,
            5,
            ...(v === 5 ? [0] : []),
            ...mqttString(new Uint8Array([0x61, 0xc3, 0x28])),
            1,
          ];
          r.send(frame(0x82, body));
          assertReason(await closedWith(r), [0x81, 0x82], "invalid UTF-8 filter");
          await assertServes(b);
        },
      );

      for (const topic of ["a/+/b", "a/#"]) {
        await t.step(
          `${tag}: a wildcard in a PUBLISH topic (${topic}) closes the connection`,
          async () => {
            const r = await connected(v);
            r.send(
              publishBytes(new TextEncoder().encode(topic), 1, true, v === 5 ? [] : undefined),
            );
            assertReason(await closedWith(r), [0x90, 0x82, 0x81], "wildcard topic");
            await assertServes(b);
          },
        );
      }

      await t.step(
        `${tag}: invalid filters such as a/#/b are refused in SUBACK, valid ones in the same SUBSCRIBE granted`,
        async () => {
          const r = await connected(v);
          const bad = ["a/#/b", "a/b#", "a+/b"];
          r.sendPacket({
            cmd: "subscribe",
            messageId: 7,
            subscriptions: [...bad.map((topic) => ({ topic, qos: 1 as const })), {
              topic: "ok/+",
              qos: 1,
            }],
          });
          // mosquitto closes the connection (v5: DISCONNECT) instead; edgemq must answer SUBACK
          let ack: Packet | undefined;
          try {
            ack = await r.next(3000);
          } catch {
            assert(IS_MOSQUITTO, "edgemq closed the connection instead of sending SUBACK");
          }
          if (ack !== undefined && !(IS_MOSQUITTO && ack.cmd === "disconnect")) {
            assert(ack.cmd === "suback", `got ${ack.cmd}`);
            const refused = v === 4 ? 0x80 : 0x8f;
            assertEquals(ack.granted, [refused, refused, refused, 1]);
          }
          await assertServes(b);
        },
      );

      await t.step(`${tag}: a PUBLISH with QoS 3 closes the connection`, async () => {
        const r = await connected(v);
        const p = publishBytes(new TextEncoder().encode("q/3"), 1, true, v === 5 ? [] : undefined);
        p[0] = 0x36;
        r.send(p);
        assertReason(await closedWith(r), [0x81], "QoS 3");
        await assertServes(b);
      });

      await t.step(
        `${tag}: a QoS 1 PUBLISH without a packet identifier closes the connection`,
        async () => {
          const r = await connected(v);
          // topic "q" then nothing: the packet id bytes are missing
          r.send(frame(0x32, [...mqttString("q")]));
          assertReason(await closedWith(r), [0x81, 0x82], "missing packet id");
          await assertServes(b);
        },
      );

      await t.step(
        `${tag}: a QoS 1 PUBLISH with packet identifier 0 closes the connection`,
        async () => {
          const r = await connected(v);
          const body = [...mqttString("q"), 0, 0, ...(v === 5 ? [0] : []), 0x78];
          r.send(frame(0x32, body));
          assertReason(await closedWith(r), [0x81, 0x82], "packet id 0");
          await assertServes(b);
        },
      );
    }

    await t.step("v5: a duplicated PUBLISH property is a protocol error", async () => {
      const r = await connected(5);
      r.send(publishBytes(new TextEncoder().encode("dup/p"), 0, false, [0x01, 0x01, 0x01, 0x01]));
      assertReason(await closedWith(r), [0x81, 0x82], "duplicate property");
      await assertServes(b);
    });

    await t.step("v5: an unknown property identifier is malformed", async () => {
      const r = await connected(5);
      r.send(publishBytes(new TextEncoder().encode("unk/p"), 0, false, [0x7f, 0x00]));
      assertReason(await closedWith(r), [0x81, 0x82], "unknown property");
      await assertServes(b);
    });

    await t.step("v5: an unknown CONNECT property is malformed", async () => {
      const r = await open(5);
      const body = [
        ...mqttString("MQTT"),
        5,
        0x02,
        0,
        60,
        2,
        0x7e,
        0x00,
        ...mqttString(uniqueId("uc")),
      ];
      r.send(frame(0x10, body));
      const rest = await r.waitClosed(3000);
      const ack = rest.find((p) => p.cmd === "connack");
      if (ack !== undefined && ack.cmd === "connack") {
        assert([0x81, 0x82].includes(ack.reasonCode ?? 0), `CONNACK reason ${ack.reasonCode}`);
      }
      await assertServes(b);
    });

    await t.step("v5: topic alias 0 gets DISCONNECT 0x94", async () => {
      const r = await connected(5);
      r.send(publishBytes(new TextEncoder().encode("alias/zero"), 0, false, [0x23, 0x00, 0x00]));
      const reason = await closedWith(r);
      if (!IS_MOSQUITTO) assertEquals(reason, 0x94);
      await assertServes(b);
    });

    await t.step("v5: a topic alias above the announced maximum gets DISCONNECT 0x94", async () => {
      const r = await connected(5);
      r.send(publishBytes(new TextEncoder().encode("alias/big"), 0, false, [0x23, 0xff, 0xff]));
      const reason = await closedWith(r);
      if (!IS_MOSQUITTO) assertEquals(reason, 0x94);
      await assertServes(b);
    });

    await t.step(
      "v5: an alias-only PUBLISH for an alias never set is a protocol error",
      async () => {
        const r = await connected(5);
        r.send(publishBytes(new Uint8Array(0), 0, false, [0x23, 0x00, 0x01]));
        assertReason(await closedWith(r), [0x82], "unknown alias");
        await assertServes(b);
      },
    );

    await t.step("an unknown protocol level gets CONNACK 1 (v3.1.1) and a close", async () => {
      const r = await open();
      r.send(frame(0x10, [...mqttString("MQTT"), 9, 0x02, 0, 60, ...mqttString("lvl")]));
      const rest = await r.waitClosed(3000);
      const ack = rest.find((p) => p.cmd === "connack");
      if (ack !== undefined && ack.cmd === "connack") {
        assertEquals(ack.returnCode ?? ack.reasonCode, 1);
      }
      await assertServes(b);
    });

    // Malformed CONNECT packets: the broker answers with an error CONNACK or just closes.
    const connectBody = (v: 4 | 5, flags: number, payload: number[], props: number[] = []) => [
      ...mqttString("MQTT"),
      v,
      flags,
      0,
      20,
      ...(v === 5 ? [props.length, ...props] : []),
      ...payload,
    ];
    const badConnects: { name: string; v: 4 | 5; bytes: Uint8Array; connack?: number[] }[] = [
      {
        name: "v3.1.1: CONNECT with the reserved flag bit set",
        v: 4,
        bytes: frame(0x10, connectBody(4, 0x03, mqttString("rf"))),
      },
      {
        name: "v5: CONNECT with the reserved flag bit set",
        v: 5,
        bytes: frame(0x10, connectBody(5, 0x03, mqttString("rf"))),
        connack: [0x81],
      },
      {
        name: "v3.1.1: CONNECT with will QoS 3",
        v: 4,
        bytes: frame(
          0x10,
          connectBody(4, 0x02 | 0x04 | 0x18, [
            ...mqttString("wq"),
            ...mqttString("w/t"),
            ...mqttString("x"),
          ]),
        ),
      },
      {
        name: "v3.1.1: CONNECT with will QoS 1 but no will flag",
        v: 4,
        bytes: frame(0x10, connectBody(4, 0x02 | 0x08, mqttString("wf"))),
      },
      {
        name: "v3.1.1: CONNECT with a password but no user name",
        v: 4,
        bytes: frame(
          0x10,
          connectBody(4, 0x02 | 0x40, [...mqttString("pw"), ...mqttString("secret")]),
        ),
      },
      {
        name: "v5: a will topic with a wildcard",
        v: 5,
        bytes: frame(
          0x10,
          connectBody(5, 0x02 | 0x04, [
            ...mqttString("ww"),
            0,
            ...mqttString("w/#"),
            ...mqttString("x"),
          ]),
        ),
        connack: [0x90, 0x82, 0x81],
      },
      {
        name: "v3.1.1: a will topic with a wildcard",
        v: 4,
        bytes: frame(
          0x10,
          connectBody(4, 0x02 | 0x04, [
            ...mqttString("ww"),
            ...mqttString("w/+"),
            ...mqttString("x"),
          ]),
        ),
      },
      {
        name: "v3.1.1: a client id that is not valid UTF-8",
        v: 4,
        bytes: frame(0x10, connectBody(4, 0x02, mqttString(new Uint8Array([0x61, 0xff])))),
        connack: [2],
      },
      {
        name: "v5: a CONNECT with a truncated payload",
        v: 5,
        bytes: frame(0x10, connectBody(5, 0x02, [0, 10, 0x61])),
      },
      {
        name: "v5: an unsupported authentication method",
        v: 5,
        bytes: frame(
          0x10,
          connectBody(5, 0x02, mqttString("am"), [0x15, ...mqttString("SCRAM-SHA-999")]),
        ),
        connack: [0x8c, 0x87],
      },
      { name: "v3.1.1: PINGREQ before CONNECT", v: 4, bytes: new Uint8Array([0xc0, 0x00]) },
    ];
    for (const c of badConnects) {
      await t.step(`${c.name} is refused`, async () => {
        const r = await open(c.v);
        r.send(c.bytes);
        const rest = await r.waitClosed(3000);
        const ack = rest.find((p) => p.cmd === "connack");
        if (ack !== undefined && ack.cmd === "connack") {
          const code = ack.reasonCode ?? ack.returnCode ?? 0;
          assert(code !== 0, "CONNACK success for a malformed CONNECT");
          if (c.connack !== undefined && !IS_MOSQUITTO) {
            assert(
              c.connack.includes(code),
              `CONNACK code 0x${code.toString(16)}, want one of ${c.connack}`,
            );
          }
        }
        await assertServes(b);
      });
    }

    // Malformed packets after a good CONNECT: the broker closes (v5: DISCONNECT 0x81/0x82).
    const v5sub = (opts: number, filter = "ok/x") =>
      frame(0x82, [0, 9, 0, ...mqttString(filter), opts]);
    const badAfter: {
      name: string;
      v: 4 | 5;
      bytes: Uint8Array;
      reasons?: number[];
      edgemqOnly?: boolean;
    }[] = [
      { name: "v3.1.1: SUBSCRIBE with no filters", v: 4, bytes: frame(0x82, [0, 9]) },
      {
        name: "v5: SUBSCRIBE with no filters",
        v: 5,
        bytes: frame(0x82, [0, 9, 0]),
        reasons: [0x81, 0x82],
      },
      {
        name: "v3.1.1: SUBSCRIBE with wrong fixed-header flags",
        v: 4,
        bytes: frame(0x80, [0, 9, ...mqttString("a"), 1]),
      },
      { name: "v3.1.1: UNSUBSCRIBE with no filters", v: 4, bytes: frame(0xa2, [0, 9]) },
      {
        name: "v3.1.1: SUBSCRIBE requesting QoS 3",
        v: 4,
        bytes: frame(0x82, [0, 9, ...mqttString("a"), 3]),
      },
      {
        name: "v5: SUBSCRIBE options with reserved bits set",
        v: 5,
        bytes: v5sub(0xc1),
        reasons: [0x81, 0x82],
      },
      {
        name: "v5: SUBSCRIBE with retain handling 3",
        v: 5,
        bytes: v5sub(0x31),
        reasons: [0x81, 0x82],
      },
      // [MQTT-3.8.3-4]; mosquitto 2.0.11 accepts it
      {
        name: "v5: no-local on a shared subscription",
        v: 5,
        bytes: v5sub(0x05, "$share/g/ok/x"),
        reasons: [0x82],
        edgemqOnly: true,
      },
      {
        name: "v5: AUTH without an authentication method in CONNECT",
        v: 5,
        bytes: frame(0xf0, [0x18, 0]),
        reasons: [0x82],
      },
      { name: "v3.1.1: a packet of reserved type 0", v: 4, bytes: new Uint8Array([0x00, 0x00]) },
      {
        name: "v3.1.1: a packet of type 15 (AUTH) in 3.1.1",
        v: 4,
        bytes: new Uint8Array([0xf0, 0x00]),
      },
      {
        name: "v3.1.1: PUBREL with wrong fixed-header flags",
        v: 4,
        bytes: new Uint8Array([0x60, 0x02, 0x00, 0x01]),
      },
    ];
    for (const c of badAfter) {
      await t.step({
        name: `${c.name} closes the connection`,
        ignore: c.edgemqOnly === true && IS_MOSQUITTO,
        fn: async () => {
          const r = await connected(c.v);
          r.send(c.bytes);
          const reason = await closedWith(r);
          if (c.reasons !== undefined) assertReason(reason, c.reasons, c.name);
          await assertServes(b);
        },
      });
    }

    await t.step("v5: an invalid shared subscription filter is refused", async () => {
      const r = await connected(5);
      r.sendPacket({
        cmd: "subscribe",
        messageId: 4,
        subscriptions: [{ topic: "$share/gr+p/x", qos: 1 }, { topic: "$share/g", qos: 1 }],
      });
      try {
        const p = await r.next(3000);
        if (p.cmd === "suback") {
          for (const g of p.granted) {
            assert(typeof g === "number" && g >= 0x80, `granted ${JSON.stringify(p.granted)}`);
          }
        } else {
          assert(p.cmd === "disconnect", `got ${p.cmd}`);
        }
      } catch {
        // closed without a packet: also a refusal
      }
      await assertServes(b);
    });

    await edgemqStep(
      t,
      "300 half-open connections that never send CONNECT are closed after connectTimeoutMs",
      async () => {
        const conns: RawClient[] = [];
        try {
          for (let i = 0; i < 300; i++) conns.push(await RawClient.open(b.tcpPort, 4));
          await assertServes(b);
          const t0 = Date.now();
          for (const r of conns) await r.waitClosed(CONNECT_TIMEOUT_MS + 4000 - (Date.now() - t0));
          const elapsed = Date.now() - t0;
          assert(elapsed < CONNECT_TIMEOUT_MS + 4000, `closed after ${elapsed} ms`);
        } finally {
          for (const r of conns) r.close();
        }
        await assertServes(b);
      },
    );

    await t.step(
      "a seeded random-mutation storm of valid packets leaves the broker alive with bounded memory",
      async () => {
        const seed = Number(Deno.env.get("EDGEMQ_FUZZ_SEED") ?? "20261127");
        const rand = mulberry32(seed);
        const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
        const templates = (v: 4 | 5): Uint8Array[] => [
          encode({
            cmd: "subscribe",
            messageId: 3,
            subscriptions: [{ topic: "fz/+", qos: 2 }],
            ...(v === 5 ? { properties: { subscriptionIdentifier: 4 } } : {}),
          }, v),
          encode({
            cmd: "publish",
            topic: "fz/a",
            payload: "hello",
            qos: 1,
            messageId: 9,
            dup: false,
            retain: false,
            ...(v === 5 ? { properties: { topicAlias: 1, userProperties: { k: "v" } } } : {}),
          }, v),
          encode({
            cmd: "publish",
            topic: "fz/b",
            payload: "q2",
            qos: 2,
            messageId: 10,
            dup: false,
            retain: true,
          }, v),
          encode({ cmd: "pubrel", messageId: 10 }, v),
          encode({ cmd: "unsubscribe", messageId: 11, unsubscriptions: ["fz/+"] }, v),
          encode({ cmd: "pingreq" }, v),
        ];
        const mutate = (p: Uint8Array): Uint8Array => {
          const bytes = Array.from(p);
          const n = 1 + Math.floor(rand() * 3);
          for (let i = 0; i < n; i++) {
            const op = rand();
            const at = Math.floor(rand() * bytes.length);
            if (op < 0.5) bytes[at] = Math.floor(rand() * 256);
            else if (op < 0.7) bytes.splice(at, 0, Math.floor(rand() * 256));
            else if (op < 0.85) bytes.splice(at, 1);
            else bytes.length = Math.max(1, at);
          }
          return new Uint8Array(bytes);
        };
        const before = await b.rssKb();
        const connections = Number(Deno.env.get("EDGEMQ_FUZZ_CONNECTIONS") ?? "150");
        for (let batch = 0; batch < connections; batch += 15) {
          const jobs: Promise<void>[] = [];
          for (let j = 0; j < 15; j++) {
            const v = pick([4, 5] as const);
            const connectPkt = encode({
              cmd: "connect",
              protocolId: "MQTT",
              protocolVersion: v,
              clean: true,
              clientId: `fz${batch + j}`,
              keepalive: 30,
            }, v);
            const stream: Uint8Array[] = [rand() < 0.8 ? connectPkt : mutate(connectPkt)];
            for (let k = 0; k < 6; k++) {
              const tpl = pick(templates(v));
              stream.push(rand() < 0.7 ? mutate(tpl) : tpl);
            }
            jobs.push((async () => {
              const r = await RawClient.open(b.tcpPort, v);
              try {
                for (const s of stream) r.send(s);
                await r.waitClosed(300).catch(() => {});
              } finally {
                r.close();
              }
            })());
          }
          await Promise.all(jobs);
          assert(b.alive(), `broker died during the storm (seed ${seed}, batch ${batch})`);
        }
        await sleep(300);
        const after = await b.rssKb();
        assert(
          after - before < 50_000,
          `RSS grew by ${after - before} KiB during the storm (seed ${seed})`,
        );
        await assertServes(b);
      },
    );

    await t.step("overall memory stays bounded after all bad input", async () => {
      const now = await b.rssKb();
      assert(now - rssStart < 80_000, `RSS grew from ${rssStart} to ${now} KiB`);
      await assertServes(b);
    });
  } finally {
    for (const r of raws) r.close();
    await b.stop();
  }
});
