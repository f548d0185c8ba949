/**
 * Micro-benchmark of the SQLite inbox store with fsync on (synchronous=FULL).
 * Run: `deno run -A stores/inbox/inbox_bench.ts [dir]` (default: a temp dir
 * on the current file system). Prints one line per scenario. Set
 * `INBOX_BENCH_SYNC=NORMAL` to see the cost without fsync.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import type { ClientKey, StoredMessage } from "../message.ts";
import type { EnqueueItem } from "./inboxStore.ts";
import { SqliteInboxStore } from "./sqliteInboxStore.ts";

const synchronous = Deno.env.get("INBOX_BENCH_SYNC") === "NORMAL" ? "NORMAL" : "FULL";
const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "inbox_bench_" });
const path = join(dir, "inbox.db");
const store = new SqliteInboxStore(path, {
  maxQueuedMessages: 1_000_000,
  overflowPolicy: "drop-newest",
  maxSubscriptions: 100,
  maxIncomingQos2: 65535,
}, { synchronous });
console.log(`synchronous=${synchronous}, db ${path}`);

const INBOXES = 1000;
const keys: ClientKey[] = [];
const incs: number[] = [];
for (let i = 0; i < INBOXES; i++) {
  const key = { tenant: "default", clientId: `client-${i}` };
  const { meta } = await store.attach(key, {
    cleanStart: true,
    sessionExpirySeconds: 3600,
    nowMs: 0,
  });
  keys.push(key);
  incs.push(meta.incarnation);
}

function message(i: number, bytes: number): StoredMessage {
  return {
    tenant: "default",
    topic: `sensors/${i % 100}/temp`,
    payload: new Uint8Array(bytes).fill(i & 0xff),
    qos: 1,
    retain: false,
    publisherClientId: "publisher",
    receivedAtMs: 1_700_000_000_000 + i,
    expiresAtMs: null,
    properties: {},
  };
}

let cpuMark = process.cpuUsage();

/** Prints wall time per unit and CPU time (user+system) since the previous report. */
function report(name: string, messages: number, ms: number, units = 1): void {
  const cpu = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  const cpuMs = (cpu.user + cpu.system) / 1000 / units;
  console.log(
    `${name.padEnd(58)} ${ms.toFixed(1).padStart(7)} ms (cpu ${cpuMs.toFixed(1).padStart(6)} ms) ${
      Math.round(messages / (ms / 1000)).toLocaleString("en-US").padStart(9)
    } msg/s`,
  );
}

// 1. One enqueue call with 1,000 items (1 message to each of 1,000 inboxes), repeated.
for (const bytes of [100, 1000]) {
  const rounds = 20;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const items: EnqueueItem[] = keys.map((key, i) => ({
      key,
      incarnation: incs[i],
      message: message(r * 1000 + i, bytes),
      qos: 1,
      retain: false,
      subscriptionIds: [],
    }));
    await store.enqueue(items);
  }
  const ms = performance.now() - t0;
  report(
    `enqueue 1000 distinct msgs (${bytes} B) in one call, per call`,
    1000,
    ms / rounds,
    rounds,
  );
}

// 2. Fan-out: one message to 1,000 inboxes (encoded once).
{
  const rounds = 20;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const m = message(r, 100);
    await store.enqueue(keys.map((key, i) => ({
      key,
      incarnation: incs[i],
      message: m,
      qos: 1,
      retain: false,
      subscriptionIds: [],
    })));
  }
  report(
    "fan-out 1 msg (100 B) to 1000 inboxes, per call",
    1000,
    (performance.now() - t0) / rounds,
  );
}

// 3. Broker pattern: 1,000 separate enqueue calls (one item each) in one turn.
{
  const rounds = 20;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    await Promise.all(keys.map((key, i) =>
      store.enqueue([{
        key,
        incarnation: incs[i],
        message: message(i, 100),
        qos: 1,
        retain: false,
        subscriptionIds: [],
      }])
    ));
  }
  report(
    "1000 single-item enqueue calls in one turn, per turn",
    1000,
    (performance.now() - t0) / rounds,
  );
}

// 4. Sustained in+out: per turn, enqueue 1 msg to each of N inboxes, read and remove it.
{
  const rounds = 50;
  const N = 200;
  const lastRead = new Map<number, number>();
  const t0 = performance.now();
  let moved = 0;
  for (let r = 0; r < rounds; r++) {
    const results = await Promise.all(
      keys.slice(0, N).map((key, i) =>
        store.enqueue([{
          key,
          incarnation: incs[i],
          message: message(i, 100),
          qos: 1,
          retain: false,
          subscriptionIds: [],
        }])
      ),
    );
    const reads = await Promise.all(
      keys.slice(0, N).map((key, i) => {
        const res = results[i][0];
        const after = res.ok ? res.seq - 1 : lastRead.get(i) ?? 0;
        return store.read(key, after, 100, 0);
      }),
    );
    await Promise.all(
      keys.slice(0, N).map((key, i) => {
        const seqs = reads[i].map((e) => e.seq);
        if (seqs.length > 0) lastRead.set(i, seqs[seqs.length - 1]);
        moved += seqs.length;
        return store.remove(key, seqs);
      }),
    );
  }
  report(
    `in+out ${N} inboxes/turn (enqueue, read, remove: 3 commits)`,
    moved,
    performance.now() - t0,
  );
}

console.log(`commits: ${store.stats().batches}, commands: ${store.stats().commands}`);
await store.close();
if (Deno.args[0] === undefined) await Deno.remove(dir, { recursive: true });
