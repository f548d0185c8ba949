/**
 * End to end: many clients at once — fan-out, fan-in with per-publisher order, and
 * a consumer that stops reading must not stall the others or grow memory unbounded.
 */

import { assert, assertEquals } from "./harness/assert.ts";
import { sleep, startBroker } from "./harness/broker.ts";
import { closeClient, connectClient, Inbox, type MqttClient, uniqueId } from "./harness/clients.ts";
import { RawClient } from "./harness/raw.ts";

Deno.test("many clients at once", async (t) => {
  const b = await startBroker();
  const open: MqttClient[] = [];
  try {
    await t.step(
      "fan-out: 100 subscribers (3.1.1 and 5) each get all 20 messages once, in order",
      async () => {
        const topic = `fan/${uniqueId()}`;
        const inboxes: Inbox[] = [];
        for (let i = 0; i < 100; i += 10) {
          const batch = await Promise.all(
            Array.from(
              { length: 10 },
              (_, j) => connectClient(b, { protocolVersion: (i + j) % 2 ? 5 : 4 }),
            ),
          );
          for (const c of batch) {
            open.push(c);
            inboxes.push(new Inbox(c));
          }
          await Promise.all(batch.map((c) => c.subscribeAsync(topic, { qos: 1 })));
        }
        const pub = await connectClient(b, { protocolVersion: 5 });
        open.push(pub);
        for (let k = 0; k < 20; k++) await pub.publishAsync(topic, `f${k}`, { qos: 1 });
        await Promise.all(inboxes.map((ib) => ib.waitCount(20, 15_000)));
        await inboxes[0].expectNone(300);
        const expected = Array.from({ length: 20 }, (_, k) => `f${k}`);
        for (const ib of inboxes) assertEquals(ib.messages.map((m) => m.payload), expected);
        for (const c of open.splice(0)) await closeClient(c);
      },
    );

    await t.step(
      "fan-in: 50 concurrent publishers, 1000 QoS 1 messages, each publisher's order kept",
      async () => {
        const base = `fanin/${uniqueId()}`;
        const sub = await connectClient(b, { protocolVersion: 5 });
        open.push(sub);
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(`${base}/#`, { qos: 1 });
        const pubs = await Promise.all(
          Array.from({ length: 50 }, () => connectClient(b, { protocolVersion: 4 })),
        );
        open.push(...pubs);
        await Promise.all(pubs.map(async (p, i) => {
          for (let k = 0; k < 20; k++) await p.publishAsync(`${base}/${i}`, String(k), { qos: 1 });
        }));
        await inbox.waitCount(1000, 20_000);
        await inbox.expectNone(300);
        const per = new Map<string, number[]>();
        for (const m of inbox.messages) {
          const list = per.get(m.topic) ?? [];
          list.push(Number(m.payload));
          per.set(m.topic, list);
        }
        assertEquals(per.size, 50);
        for (const [tp, list] of per) {
          assertEquals(
            list,
            Array.from({ length: 20 }, (_, k) => k),
            tp,
          );
        }
        for (const c of open.splice(0)) await closeClient(c);
      },
    );

    await t.step(
      "a subscriber that stops reading does not stall others, and memory stays bounded",
      async () => {
        const topic = `slow/${uniqueId()}`;
        const { client: slow } = await RawClient.connect(b.tcpPort, {
          clientId: uniqueId("slow"),
          protocolVersion: 4,
        });
        try {
          slow.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 0 }] });
          await slow.expect("suback");
          slow.socket.pause(); // stop reading: the broker's writes back up
          const fast = await connectClient(b, { protocolVersion: 4 });
          open.push(fast);
          const inbox = new Inbox(fast);
          await fast.subscribeAsync(topic, { qos: 0 });
          const before = await b.rssKb();
          const pub = await connectClient(b, { protocolVersion: 4 });
          open.push(pub);
          const payload = "x".repeat(10 * 1024);
          const n = 3000; // 30 MiB towards the stalled reader
          for (let i = 0; i < n; i += 100) {
            await Promise.all(
              Array.from({ length: 100 }, () => pub.publishAsync(topic, payload, { qos: 1 })),
            );
          }
          await inbox.waitCount(n, 30_000);
          const after = await b.rssKb();
          assert(
            after - before < 150_000,
            `RSS grew by ${after - before} KiB with a stalled reader`,
          );
          assert(b.alive());
          for (const c of open.splice(0)) await closeClient(c);
        } finally {
          slow.close();
        }
      },
    );
    await t.step(
      "1500 connect/close cycles (TCP and WebSocket) leak no file descriptors and little memory",
      async () => {
        const fds = async () => {
          let n = 0;
          for await (const _ of Deno.readDir(`/proc/${b.pid}/fd`)) n++;
          return n;
        };
        // warm up, then measure
        for (let i = 0; i < 50; i++) {
          const { client } = await RawClient.connect(b.tcpPort, {
            clientId: `warm${i}`,
            protocolVersion: 4,
          });
          client.close();
        }
        await sleep(300);
        const fd0 = await fds();
        const rss0 = await b.rssKb();
        for (let i = 0; i < 1500; i += 50) {
          await Promise.all(Array.from({ length: 50 }, async (_, j) => {
            const k = i + j;
            if (k % 10 === 0 && b.wsPort !== undefined) {
              const c = await connectClient(b, { protocolVersion: 5, transport: "ws" });
              await closeClient(c);
              return;
            }
            const { client } = await RawClient.connect(b.tcpPort, {
              clientId: `cyc${k % 200}`,
              protocolVersion: k % 2 ? 5 : 4,
              clean: k % 3 !== 0,
            });
            if (k % 4 === 0) client.sendPacket({ cmd: "disconnect" });
            client.close();
          }));
        }
        await sleep(1000);
        const fd1 = await fds();
        const rss1 = await b.rssKb();
        assert(fd1 - fd0 <= 5, `broker fds grew from ${fd0} to ${fd1}`);
        assert(rss1 - rss0 < 40_000, `RSS grew by ${rss1 - rss0} KiB over 1500 connections`);
        // clean up the persistent sessions left by clean=false cycles
        for (let k = 0; k < 200; k++) {
          const { client } = await RawClient.connect(b.tcpPort, {
            clientId: `cyc${k}`,
            protocolVersion: 4,
            clean: true,
          });
          client.sendPacket({ cmd: "disconnect" });
          client.close();
        }
      },
    );
  } finally {
    for (const c of open) c.end(true);
    await b.stop();
  }
});
