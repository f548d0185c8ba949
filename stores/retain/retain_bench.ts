/**
 * Micro-benchmark of the SQLite retain store: retained PUBLISHes (sets) and
 * wildcard matches on subscribe. Run: `deno run -A stores/retain/retain_bench.ts`.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import type { StoredMessage } from "../message.ts";
import { SqliteRetainStore } from "./sqliteRetainStore.ts";

const dir = await Deno.makeTempDir({ prefix: "retain_bench_" });
const store = new SqliteRetainStore(join(dir, "retain.db"), {
  maxRetainedPerTenant: 1_000_000,
  synchronous: "ASYNC",
});

function message(topic: string, i: number): StoredMessage {
  return {
    tenant: "default",
    topic,
    payload: new Uint8Array(100).fill(i & 0xff),
    qos: 1,
    retain: true,
    publisherClientId: "p",
    receivedAtMs: i,
    expiresAtMs: null,
    properties: {},
  };
}

function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

const TOPICS = 20_000;
let t0 = performance.now();
let c0 = cpuMs();
for (let i = 0; i < TOPICS; i += 500) {
  await Promise.all(
    Array.from(
      { length: 500 },
      (_, j) => store.set(message(`site/${(i + j) % 100}/dev/${i + j}`, j)),
    ),
  );
}
console.log(
  `set ${TOPICS} new retained topics (500 per turn): ${
    ((performance.now() - t0) * 1000 / TOPICS).toFixed(1)
  } µs/set wall, ${((cpuMs() - c0) * 1000 / TOPICS).toFixed(1)} µs/set cpu`,
);
for (
  const [filter, n] of [["site/7/dev/7", 2000], ["site/7/#", 200], ["site/+/dev/123", 2000], [
    "#",
    5,
  ]] as const
) {
  t0 = performance.now();
  c0 = cpuMs();
  let got = 0;
  for (let r = 0; r < n; r++) got = (await store.match("default", filter, 0, 100_000)).length;
  console.log(
    `match ${filter.padEnd(15)} -> ${String(got).padStart(5)} msgs: ${
      ((performance.now() - t0) / n).toFixed(3)
    } ms wall, ${((cpuMs() - c0) / n).toFixed(3)} ms cpu per match`,
  );
}
await store.close();
await Deno.remove(dir, { recursive: true });
