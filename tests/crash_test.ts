/**
 * Crash test: kill -9 after the publisher got its PUBACKs; restart on the same data
 * directory and ports; the persistent sessions get every queued QoS 1 and QoS 2
 * message exactly once, and the retained message survives.
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
} from "./harness/clients.ts";

const QOS1_COUNT = 200;

Deno.test("kill -9 after PUBACK: persistent sessions, their queued QoS 1/2 messages and retained messages survive a restart", async () => {
  const b1 = await startBroker();
  let b2: BrokerHandle | undefined;
  const dataDir = b1.dataDir;
  const topic = `crash/${uniqueId()}`;
  const retainedTopic = `crash-retained/${uniqueId()}`;
  const id4 = uniqueId("crash4");
  const id5 = uniqueId("crash5");
  try {
    // two persistent subscribers (3.1.1 clean=false and v5 session expiry), then offline
    const s4 = await connectClient(b1, { protocolVersion: 4, clientId: id4, clean: false });
    await s4.subscribeAsync(topic, { qos: 2 });
    await closeClient(s4);
    const s5 = await connectClient(b1, {
      protocolVersion: 5,
      clientId: id5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    await s5.subscribeAsync(topic, { qos: 2 });
    await closeClient(s5);

    const pub = await connectClient(b1, { protocolVersion: 4 });
    // every publishAsync resolves on its PUBACK; keep a window of 20 in flight
    for (let i = 0; i < QOS1_COUNT; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => pub.publishAsync(topic, `m${i + j}`, { qos: 1 })),
      );
    }
    await pub.publishAsync(topic, "exactly-once", { qos: 2 });
    await pub.publishAsync(retainedTopic, "retained-survives", { qos: 1, retain: true });
    pub.end(true);

    // mosquitto only autosaves (every second with autosave_on_changes); edgemq must not need this.
    if (IS_MOSQUITTO) await sleep(2500);
    await b1.kill9();

    b2 = await startBroker({ dataDir, tcpPort: b1.tcpPort, wsPort: b1.wsPort });
    assertEquals(b2.tcpPort, b1.tcpPort);

    const restored: Awaited<ReturnType<typeof connectClient>>[] = [];
    for (const [id, v] of [[id4, 4], [id5, 5]] as const) {
      const s = await connectClient(b2, {
        protocolVersion: v,
        clientId: id,
        clean: false,
        ...(v === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
      });
      assertEquals(connackOf(s).sessionPresent, true, `session ${id} present after restart`);
      const inbox = inboxOf(s);
      await inbox.waitCount(QOS1_COUNT + 1, 20_000);
      await inbox.expectNone(500);
      const payloads = inbox.messages.map((m) => m.payload);
      const expected = [...Array.from({ length: QOS1_COUNT }, (_, i) => `m${i}`), "exactly-once"];
      assertEquals([...payloads].sort(), [...expected].sort(), `v${v}: every message exactly once`);
      const q2 = inbox.messages.find((m) => m.payload === "exactly-once");
      assert(q2 !== undefined && q2.packet.qos === 2, "QoS 2 message delivered at QoS 2");
      restored.push(s);
    }

    // the restored sessions' subscriptions also route new messages
    const p2 = await connectClient(b2, { protocolVersion: 4 });
    await p2.publishAsync(topic, "after-restart", { qos: 1 });
    await closeClient(p2);
    for (const s of restored) {
      const m = await inboxOf(s).waitFor((x) => x.payload === "after-restart", 3000).catch(() =>
        undefined
      );
      assert(m !== undefined, "a message published after the restart reaches the restored session");
      await closeClient(s);
    }

    const fresh = await connectClient(b2, { protocolVersion: 4 });
    const inbox = new Inbox(fresh);
    await fresh.subscribeAsync(retainedTopic, { qos: 1 });
    const m = await inbox.next(3000);
    assertEquals([m.payload, m.packet.retain], ["retained-survives", true]);
    await fresh.publishAsync(retainedTopic, "", { qos: 1, retain: true });
    await closeClient(fresh);
  } finally {
    if (b1.alive()) await b1.kill9();
    if (b2 !== undefined) await b2.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name:
    "kill -9 in the middle of a publish stream: every message that got its PUBACK is delivered after restart",
  // mosquitto acknowledges before its (timer-driven) save: it lost 1 of 301 acknowledged
  // messages in a validation run, which shows this test can fail. edgemq must not.
  ignore: IS_MOSQUITTO,
  fn: async () => {
    const b1 = await startBroker({ ws: false });
    let b2: BrokerHandle | undefined;
    const dataDir = b1.dataDir;
    const topic = `midcrash/${uniqueId()}`;
    const id = uniqueId("mid");
    try {
      const s = await connectClient(b1, { protocolVersion: 4, clientId: id, clean: false });
      await s.subscribeAsync(topic, { qos: 1 });
      await closeClient(s);
      const pub = await connectClient(b1, { protocolVersion: 4 });
      const acked = new Set<string>();
      let stop = false;
      const stream = (async () => {
        for (let i = 0; i < 5000 && !stop; i += 25) {
          await Promise.all(Array.from({ length: 25 }, (_, j) => {
            const payload = `k${i + j}`;
            return pub.publishAsync(topic, payload, { qos: 1 }).then(
              () => acked.add(payload),
              () => {},
            );
          }));
        }
      })();
      // kill once a good number is acknowledged, while publishes are in flight
      const deadline = Date.now() + 10_000;
      while (acked.size < 300 && Date.now() < deadline) await sleep(5);
      await b1.kill9();
      stop = true;
      pub.end(true);
      await stream.catch(() => {});
      assert(acked.size >= 300, `only ${acked.size} acknowledged before the kill`);
      const ackedAtKill = [...acked];

      b2 = await startBroker({ dataDir, tcpPort: b1.tcpPort, ws: false });
      const s2 = await connectClient(b2, { protocolVersion: 4, clientId: id, clean: false });
      const inbox = inboxOf(s2);
      const want = new Set(ackedAtKill);
      const until = Date.now() + 20_000;
      const have = () => new Set(inbox.messages.map((m) => m.payload));
      while ([...want].some((p) => !have().has(p)) && Date.now() < until) await sleep(100);
      const missing = [...want].filter((p) => !have().has(p));
      assertEquals(
        missing.slice(0, 10),
        [],
        `${missing.length} of ${want.size} acknowledged messages lost`,
      );
      await closeClient(s2);
    } finally {
      if (b1.alive()) await b1.kill9();
      if (b2 !== undefined) await b2.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
