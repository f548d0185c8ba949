/**
 * Child process of `crash_test.ts`: enqueues messages into one inbox as fast
 * as it can and prints each sequence number once its enqueue resolved
 * (durable), until it is killed.
 *
 * @module
 */
import { SqliteInboxStore } from "../sqliteInboxStore.ts";

const [path, mode] = Deno.args;
if (path === undefined || (mode !== "FULL" && mode !== "ASYNC")) {
  throw new Error(`usage: crash_writer.ts <db path> FULL|ASYNC, got ${Deno.args.join(" ")}`);
}
const store = new SqliteInboxStore(path, {
  maxQueuedMessages: 1_000_000,
  overflowPolicy: "drop-newest",
  maxSubscriptions: 10,
  maxIncomingQos2: 10,
}, { synchronous: mode, exclusive: true, checkpointWalBytes: 256 * 1024 });
const key = { tenant: "t", clientId: "c" };
const { meta } = await store.attach(key, { cleanStart: false, sessionExpirySeconds: 60, nowMs: 0 });
const encoder = new TextEncoder();
console.log("ready");
for (let round = 0;; round++) {
  const calls = Array.from({ length: 20 }, (_, i) =>
    store.enqueue([{
      key,
      incarnation: meta.incarnation,
      message: {
        tenant: "t",
        topic: "x",
        payload: new Uint8Array(300).fill((round + i) & 0xff),
        qos: 1,
        retain: false,
        publisherClientId: "p",
        receivedAtMs: round,
        expiresAtMs: null,
        properties: {},
      },
      qos: 1,
      retain: false,
      subscriptionIds: [],
    }]).then((r) => {
      const first = r[0];
      if (first.ok) Deno.stdout.writeSync(encoder.encode(`${first.seq}\n`));
    }));
  await Promise.all(calls);
}
