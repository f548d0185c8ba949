/**
 * End to end: mosquitto_pub / mosquitto_sub with MQTT 3.1, 3.1.1 and 5.0 —
 * QoS 0/1/2, retained messages, wills, persistent sessions.
 */

import { assertEquals } from "./harness/assert.ts";
import { sleep, startBroker } from "./harness/broker.ts";
import { uniqueId } from "./harness/clients.ts";
import { mosqPub, MosqSub, type MosqVersion } from "./harness/mosquittoCli.ts";

const VERSIONS: MosqVersion[] = ["mqttv31", "mqttv311", "mqttv5"];

/** mosquitto clients with MQTT 3.1 limit client ids to 23 bytes. */
function shortId(prefix: string): string {
  return uniqueId(prefix).slice(-23);
}

Deno.test("mosquitto_pub and mosquitto_sub interoperate", async (t) => {
  const b = await startBroker();
  const subs: MosqSub[] = [];
  const sub = async (filter: string, o: Parameters<typeof MosqSub.start>[2]) => {
    const s = await MosqSub.start(b, filter, o);
    subs.push(s);
    return s;
  };
  try {
    for (const version of VERSIONS) {
      await t.step(`${version}: QoS 0, 1 and 2 messages arrive at the published QoS`, async () => {
        const topic = `mc/${uniqueId()}`;
        const s = await sub(topic, { version, qos: 2, id: shortId("s") });
        for (const qos of [0, 1, 2] as const) {
          const r = await mosqPub(b, topic, `m${qos}`, { version, qos, id: shortId("p") });
          assertEquals(r.code, 0, r.output);
        }
        const got = await s.waitCount(3);
        assertEquals(got.map((m) => [m.qos, m.payload]), [[0, "m0"], [1, "m1"], [2, "m2"]]);
        await s.stop();
      });

      await t.step(
        `${version}: a retained message reaches a later subscriber and is deleted by an empty one`,
        async () => {
          const topic = `mcr/${uniqueId()}`;
          const r = await mosqPub(b, topic, "kept", {
            version,
            qos: 1,
            retain: true,
            id: shortId("p"),
          });
          assertEquals(r.code, 0, r.output);
          const s = await sub(topic, { version, qos: 1, id: shortId("s") });
          const [m] = await s.waitCount(1);
          assertEquals([m.payload, m.retain], ["kept", true]);
          await s.stop();
          const d = await mosqPub(b, topic, null, {
            version,
            qos: 1,
            retain: true,
            id: shortId("p"),
          });
          assertEquals(d.code, 0, d.output);
          const s2 = await sub(topic, { version, qos: 1, id: shortId("s") });
          await sleep(400);
          assertEquals(s2.messages.length, 0);
          await s2.stop();
        },
      );

      await t.step(`${version}: a killed client's will is delivered`, async () => {
        const topic = `mcw/${uniqueId()}`;
        const watch = await sub(topic, { version, qos: 1, id: shortId("w") });
        const dying = await sub(`mcw/other/${uniqueId()}`, {
          version,
          id: shortId("d"),
          extra: ["--will-topic", topic, "--will-payload", "bye", "--will-qos", "1"],
        });
        await dying.stop("SIGKILL");
        const [m] = await watch.waitCount(1);
        assertEquals(m.payload, "bye");
        await watch.stop();
      });

      await t.step(
        `${version}: a persistent session (-c -i) gets the messages published while it was away`,
        async () => {
          const topic = `mcp/${uniqueId()}`;
          const id = shortId("ps");
          const s1 = await sub(topic, { version, qos: 1, id, clean: false });
          await s1.stop();
          for (let i = 0; i < 3; i++) {
            const r = await mosqPub(b, topic, `off${i}`, { version, qos: 1, id: shortId("p") });
            assertEquals(r.code, 0, r.output);
          }
          const s2 = await sub(topic, { version, qos: 1, id, clean: false });
          const got = await s2.waitCount(3);
          assertEquals(got.map((m) => m.payload), ["off0", "off1", "off2"]);
          await s2.stop();
          // end the session
          const s3 = await sub(topic, { version, qos: 1, id });
          await s3.stop();
        },
      );
    }

    await t.step("mqttv311 subscriber and mqttv5 publisher interoperate (and back)", async () => {
      const topic = `mix/${uniqueId()}`;
      const s4 = await sub(topic, { version: "mqttv311", qos: 1, id: shortId("s4") });
      const s5 = await sub(topic, { version: "mqttv5", qos: 1, id: shortId("s5") });
      await mosqPub(b, topic, "from5", { version: "mqttv5", qos: 1, id: shortId("p") });
      await mosqPub(b, topic, "from31", { version: "mqttv31", qos: 1, id: shortId("p") });
      for (const s of [s4, s5]) {
        const got = await s.waitCount(2);
        assertEquals(got.map((m) => m.payload), ["from5", "from31"]);
        await s.stop();
      }
    });
  } finally {
    for (const s of subs) await s.stop("SIGKILL");
    await b.stop();
  }
});
