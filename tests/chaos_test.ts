/**
 * End to end: exactly-once QoS 2 delivery to a persistent subscriber whose
 * connection is cut, or taken over by a new one, over and over while several
 * publishers send; and concurrent connects with one client id.
 */

import mqtt from "mqtt";
import { assert, assertEquals } from "./harness/assert.ts";
import { sleep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connectClient,
  inboxOf,
  type MqttClient,
  uniqueId,
} from "./harness/clients.ts";

/** A memory store that survives client.end(): MQTT.js closes (nulls) its stores on end. */
class KeptStore extends mqtt.Store {
  override close(cb?: () => void): this {
    cb?.();
    return this;
  }
}

const PUBLISHERS = 4;
const PER_PUBLISHER = 100;

for (const v of [4, 5] as const) {
  Deno.test(`v${v === 4 ? "3.1.1" : "5"}: QoS 2 is exactly once to a persistent subscriber whose connection keeps dropping or being taken over`, async () => {
    const b = await startBroker({ ws: false });
    const clients: MqttClient[] = [];
    try {
      const id = uniqueId("chaos");
      const topic = `chaos/${id}`;
      // one incoming store across reconnects, so the client side keeps its QoS 2 state too
      const incomingStore = new KeptStore();
      const subscribers: MqttClient[] = [];
      const attach = async () => {
        const c = await connectClient(b, {
          protocolVersion: 4,
          clientId: id,
          clean: false,
          incomingStore,
        });
        clients.push(c);
        subscribers.push(c);
        return c;
      };
      /** Every delivery to any incarnation of the subscriber (inboxOf listens from CONNECT on). */
      const tally = () => {
        const counts = new Map<string, number>();
        for (const c of subscribers) {
          for (const m of inboxOf(c).messages) {
            counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
          }
        }
        return counts;
      };
      const first = await attach();
      await first.subscribeAsync(topic, { qos: 2 });

      const pubs = await Promise.all(
        Array.from({ length: PUBLISHERS }, () => connectClient(b, { protocolVersion: 4 })),
      );
      clients.push(...pubs);
      let publishing = true;
      const sending = Promise.all(pubs.map(async (p, j) => {
        for (let i = 0; i < PER_PUBLISHER; i++) {
          await p.publishAsync(topic, `p${j}-${i}`, { qos: 2 });
          if (i % 5 === 0) await sleep(10);
        }
      })).finally(() => publishing = false);

      let current = first;
      let cuts = 0;
      while (publishing && cuts < 40) {
        await sleep(100);
        if (cuts % 2 === 0) {
          current.stream.destroy(); // cut without DISCONNECT, mid-flight
          current.end(true);
        } // else: leave it open; the next connection takes the session over
        cuts++;
        current = await attach();
      }
      await sending;
      const total = PUBLISHERS * PER_PUBLISHER;
      const deadline = Date.now() + 15_000;
      while (tally().size < total && Date.now() < deadline) await sleep(100);
      await sleep(500);
      const counts = tally();
      const missing: string[] = [];
      const dup: string[] = [];
      for (let j = 0; j < PUBLISHERS; j++) {
        for (let i = 0; i < PER_PUBLISHER; i++) {
          const n = counts.get(`p${j}-${i}`) ?? 0;
          if (n === 0) missing.push(`p${j}-${i}`);
          if (n > 1) dup.push(`p${j}-${i}x${n}`);
        }
      }
      assert(cuts >= 3, `only ${cuts} connection cuts happened`);
      assertEquals({ missing: missing.slice(0, 10), dup: dup.slice(0, 10) }, {
        missing: [],
        dup: [],
      });
      await closeClient(current);
      const end = await connectClient(b, { protocolVersion: 4, clientId: id, clean: true });
      await closeClient(end);
      for (const p of pubs) await closeClient(p);
    } finally {
      for (const c of clients) c.end(true);
      await b.stop();
    }
  });
}

Deno.test("20 simultaneous connections with one client id leave exactly one connected", async () => {
  const b = await startBroker({ ws: false });
  const clients: MqttClient[] = [];
  try {
    for (const v of [4, 5] as const) {
      const id = uniqueId("race");
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => connectClient(b, { protocolVersion: v, clientId: id })),
      );
      for (const r of results) if (r.status === "fulfilled") clients.push(r.value);
      await sleep(1000);
      const alive = clients.filter((c) => c.connected && c.options.clientId === id);
      assertEquals(alive.length, 1, `v${v}: connections still up with client id ${id}`);
      const survivor = alive[0];
      const topic = `race/${id}`;
      await survivor.subscribeAsync(topic, { qos: 1 });
      await survivor.publishAsync(topic, "works", { qos: 1 });
      assertEquals((await inboxOf(survivor).waitFor((m) => m.payload === "works")).topic, topic);
      await closeClient(survivor);
    }
  } finally {
    for (const c of clients) c.end(true);
    await b.stop();
  }
});
