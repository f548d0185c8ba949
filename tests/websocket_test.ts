/**
 * End to end: MQTT over WebSocket at the frame level — subprotocol negotiation, the
 * path, packets split across or packed into frames, text frames, garbage, wills.
 */

import { assert, assertEquals, assertRejects } from "./harness/assert.ts";
import { edgemqStep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connectClient,
  dropClient,
  Inbox,
  inboxOf,
  uniqueId,
} from "./harness/clients.ts";
import { encode } from "./harness/raw.ts";
import { WsRaw } from "./harness/wsRaw.ts";

Deno.test("MQTT over WebSocket frames", async (t) => {
  const b = await startBroker();
  const wsPort = b.wsPort!;
  const socks: WsRaw[] = [];
  const open = async (opts: Parameters<typeof WsRaw.open>[1] = {}) => {
    const w = await WsRaw.open(wsPort, opts);
    socks.push(w);
    return w;
  };
  const connectPkt = (id: string) =>
    encode({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: true,
      clientId: id,
      keepalive: 20,
    }, 4);
  const serves = async () => {
    const c = await connectClient(b, { protocolVersion: 4, transport: "ws" });
    const topic = `wsalive/${uniqueId()}`;
    const inbox = new Inbox(c);
    await c.subscribeAsync(topic, { qos: 1 });
    await c.publishAsync(topic, "ok", { qos: 1 });
    assertEquals((await inbox.next()).payload, "ok");
    await closeClient(c);
  };
  try {
    await t.step("the broker selects the mqtt subprotocol", async () => {
      const w = await open({ protocols: ["mqtt"] });
      assertEquals(w.ws.protocol, "mqtt");
      await w.close();
    });

    // mosquitto 2.0.11 accepts any path and ignores text frames ([MQTT-6.0.0-1] says close).
    await edgemqStep(t, "a WebSocket on another path is refused", async () => {
      await assertRejects(() => WsRaw.open(wsPort, { path: "/not-mqtt" }));
      await serves();
    });

    await t.step("two MQTT packets in one WebSocket frame are both processed", async () => {
      const w = await open();
      const sub = encode({
        cmd: "subscribe",
        messageId: 5,
        subscriptions: [{ topic: "wsf/x", qos: 1 }],
      }, 4);
      w.send(new Uint8Array([...connectPkt(uniqueId("wsf")), ...sub]));
      assertEquals((await w.next()).cmd, "connack");
      const ack = await w.next();
      assert(ack.cmd === "suback" && ack.messageId === 5, JSON.stringify(ack));
      await w.close();
    });

    await t.step("one MQTT packet split across three WebSocket frames is reassembled", async () => {
      const w = await open();
      const c = connectPkt(uniqueId("wss"));
      w.send(c.slice(0, 1));
      w.send(c.slice(1, 5));
      w.send(c.slice(5));
      const ack = await w.next();
      assert(ack.cmd === "connack" && ack.returnCode === 0, JSON.stringify(ack));
      await w.close();
    });

    await edgemqStep(t, "a text frame closes the connection", async () => {
      const w = await open();
      w.send(connectPkt(uniqueId("wst")));
      await w.next();
      w.ws.send("this is text");
      await w.waitClosed(3000);
      await serves();
    });

    await t.step(
      "garbage in a binary frame closes the connection and the broker keeps serving",
      async () => {
        const w = await open();
        w.send(new Uint8Array([0xf0, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
        await w.waitClosed(3000);
        await serves();
      },
    );

    await t.step("a WebSocket client's will is sent when its connection drops", async () => {
      const topic = `wswill/${uniqueId()}`;
      const watch = await connectClient(b, { protocolVersion: 5, transport: "ws" });
      const inbox = new Inbox(watch);
      await watch.subscribeAsync(topic, { qos: 1 });
      const c = await connectClient(b, {
        protocolVersion: 5,
        transport: "ws",
        will: { topic, payload: "ws-gone", qos: 1, retain: false },
      });
      dropClient(c);
      assertEquals((await inbox.next(3000)).payload, "ws-gone");
      await closeClient(watch);
    });

    await t.step(
      "a WebSocket persistent session receives messages queued while offline",
      async () => {
        const id = uniqueId("wsp");
        const topic = `wsp/${id}`;
        const s1 = await connectClient(b, {
          protocolVersion: 4,
          transport: "ws",
          clientId: id,
          clean: false,
        });
        await s1.subscribeAsync(topic, { qos: 1 });
        await closeClient(s1);
        const pub = await connectClient(b, { protocolVersion: 4 });
        await pub.publishAsync(topic, "queued", { qos: 1 });
        await closeClient(pub);
        const s2 = await connectClient(b, {
          protocolVersion: 4,
          transport: "ws",
          clientId: id,
          clean: false,
        });
        assertEquals((await inboxOf(s2).next(3000)).payload, "queued");
        await closeClient(s2);
        const end = await connectClient(b, { protocolVersion: 4, clientId: id, clean: true });
        await closeClient(end);
      },
    );
  } finally {
    for (const w of socks) await w.close();
    await b.stop();
  }
});
