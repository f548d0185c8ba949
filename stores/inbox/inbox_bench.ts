/**
 * Micro-benchmark of the SQLite inbox store with fsync on (synchronous=FULL).
 * Run: `deno run -A stores/inbox/inbox_bench.ts [dir]` (default: a temp dir
 * on the current file system). `INBOX_BENCH_SYNC=ASYNC` uses the off-thread
 * fsync mode, `INBOX_BENCH_SYNC=NORMAL` shows the cost without fsync. Prints wall and CPU time per message for each scenario; on a
 * shared machine the CPU figure is the more stable one.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import type { ClientKey, StoredMessage } from "../message.ts";
import type { EnqueueItem } from "./inboxStore.ts";
import { SqliteInboxStore } from "./sqliteInboxStore.ts";

const modeEnv = Deno.env.get("INBOX_BENCH_SYNC") ?? "FULL";
if (modeEnv !== "FULL" && modeEnv !== "ASYNC" && modeEnv !== "NORMAL") {
  throw new Error(`INBOX_BENCH_SYNC must be FULL, ASYNC or NORMAL, got ${modeEnv}`);
}
const synchronous: "FULL" | "ASYNC" | "NORMAL" = modeEnv;
const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "inbox_bench_" });
const path = join(dir, "inbox.db");
const store = new SqliteInboxStore(path, {
  maxQueuedMessages: 1_000_000,
  overflowPolicy: "drop-newest",
  maxSubscriptions: 100,
  maxIncomingQos2: 65535,
}, { synchronous });
console.log(`synchronous=${synchronous}, db ${path}`);

let cpuMark = process.cpuUsage();
let wallMark = performance.now();

/** Prints wall and CPU time per message since the previous report, and the implied rates. */
function report(name: string, messages: number): void {
  const cpu = process.cpuUsage(cpuMark);
  const wallMs = performance.now() - wallMark;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const rate = (ms: number) => Math.round(messages / (ms / 1000)).toLocaleString("en-US");
  console.log(
    `${name.padEnd(62)} wall ${(wallMs * 1000 / messages).toFixed(1).padStart(5)} µs/msg (${
      rate(wallMs).padStart(7)
    }/s)  cpu ${(cpuMs * 1000 / messages).toFixed(1).padStart(5)} µs/msg (${
      rate(cpuMs).padStart(7)
    }/s)`,
  );
  cpuMark = process.cpuUsage();
  wallMark = performance.now();
}

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
report("(attach 1000 inboxes, one call each, sequentially)", INBOXES);

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

function itemFor(i: number, m: StoredMessage): EnqueueItem {
  return {
    key: keys[i],
    incarnation: incs[i],
    message: m,
    qos: 1,
    retain: false,
    subscriptionIds: [],
  };
}

const ROUNDS = 20;

// 1. One enqueue call with 1,000 items (1 distinct message to each of 1,000 inboxes).
for (const bytes of [100, 1000]) {
  for (let r = 0; r < ROUNDS; r++) {
    await store.enqueue(keys.map((_, i) => itemFor(i, message(r * 1000 + i, bytes))));
  }
  report(`enqueue: calls of 1000 distinct msgs (${bytes} B) to 1000 inboxes`, 1000 * ROUNDS);
}

// 2. Fan-out: one message to 1,000 inboxes in one call (encoded once).
for (let r = 0; r < ROUNDS; r++) {
  const m = message(r, 100);
  await store.enqueue(keys.map((_, i) => itemFor(i, m)));
}
report("enqueue: fan-out, 1 msg (100 B) to 1000 inboxes per call", 1000 * ROUNDS);

// 3. Broker pattern: 1,000 separate single-item enqueue calls in one turn (one transaction).
for (let r = 0; r < ROUNDS; r++) {
  await Promise.all(keys.map((_, i) => store.enqueue([itemFor(i, message(i, 100))])));
}
report("enqueue: 1000 single-item calls per turn (100 B)", 1000 * ROUNDS);

// 4. In and out: per round, enqueue 1 msg to each of N inboxes, read it back, remove it.
{
  const N = 200;
  let moved = 0;
  for (let r = 0; r < 50; r++) {
    const results = await Promise.all(
      keys.slice(0, N).map((_, i) => store.enqueue([itemFor(i, message(i, 100))])),
    );
    const reads = await Promise.all(
      keys.slice(0, N).map((key, i) => {
        const res = results[i][0];
        return store.read(key, res.ok ? res.seq - 1 : 0, 100, 0);
      }),
    );
    await Promise.all(
      keys.slice(0, N).map((key, i) => {
        moved += reads[i].length;
        return store.remove(key, reads[i].map((e) => e.seq));
      }),
    );
  }
  report(`in+out: ${N} inboxes/round, enqueue + read + remove (3 commits)`, moved);
}

const st = store.stats();
console.log(
  `commits: ${st.batches}, commands: ${st.commands}, COMMIT wall: avg ${
    (st.commitMsTotal / st.batches).toFixed(2)
  } ms, max ${st.commitMsMax.toFixed(1)} ms; WAL ${JSON.stringify(st.wal)}`,
);
await store.close();
if (Deno.args[0] === undefined) await Deno.remove(dir, { recursive: true });
