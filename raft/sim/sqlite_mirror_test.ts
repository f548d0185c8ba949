/**
 * Differential test of the SQLite log store under Raft's real write patterns:
 * every replica's synced batches also go to a SqliteLogStore, which is closed,
 * reopened (with full verification) and compared with the simulated durable
 * state at every crash and at the end.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { MemoryLogStore } from "../storage/memoryLogStore.ts";
import { SqliteLogStore } from "../storage/sqliteLogStore.ts";
import { runSimulation } from "./simulation.ts";

Deno.test("simulation: SqliteLogStore mirrors the durable state through crashes", () => {
  // tmpfs when available: fsync is free there and this test is about content.
  let base: string | undefined;
  try {
    if (Deno.statSync("/dev/shm").isDirectory) base = "/dev/shm";
  } catch {
    base = undefined;
  }
  const dir = Deno.makeTempDirSync({ prefix: "edgemq-sim-mirror-", dir: base });
  try {
    const violations: string[] = [];
    let crashes = 0;
    for (let seed = 7000; seed < 7006; seed++) {
      const r = runSimulation({
        seed,
        safetyTicks: 500,
        mirrorStore: (id) => () =>
          SqliteLogStore.open({ path: `${dir}/${seed}-${id}.db`, tailCacheEntries: 8 }),
      });
      crashes += r.stats.crashes + r.stats.crashesMidPersist;
      if (r.violation !== null) violations.push(`seed ${seed}: ${r.violation.split("\n")[0]}`);
    }
    deepStrictEqual(violations, []);
    ok(crashes > 0, "some replica crashed (so the mirror was reopened and compared)");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("simulation: a mirror store that forgets its contents on reopen is caught", () => {
  let caught = 0;
  for (let seed = 7000; seed < 7003; seed++) {
    const r = runSimulation({
      seed,
      safetyTicks: 300,
      mirrorStore: () => () => new MemoryLogStore(),
    });
    if (r.violation?.startsWith("storage mirror")) caught++;
  }
  ok(caught === 3, `caught in ${caught} of 3 seeds`);
});
