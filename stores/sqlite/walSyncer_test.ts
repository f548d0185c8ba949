import { ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { BatchWriter } from "./batchWriter.ts";
import { openDatabase } from "./database.ts";

Deno.test("ASYNC mode: writes resolve after a WAL sync; checkpoints truncate the WAL; data survives", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "a.db");
  try {
    const opened = openDatabase(path, { synchronous: "ASYNC", exclusive: true });
    strictEqual(opened.db.prepare("PRAGMA synchronous").get()?.synchronous, 0);
    strictEqual(opened.db.prepare("PRAGMA wal_autocheckpoint").get()?.wal_autocheckpoint, 0);
    opened.db.exec("CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB)");
    const put = opened.db.prepare("INSERT OR REPLACE INTO kv VALUES (?, ?)");
    const count = opened.db.prepare("SELECT count(*) AS n FROM kv");
    type Cmd = { op: "put"; k: number } | { op: "count" };
    const writer = new BatchWriter<Cmd, number>({
      name: "t",
      opened,
      checkpointWalBytes: 64 * 1024,
      needsSync: (c) => c.op !== "count",
      apply: (c) => {
        if (c.op === "count") return Number(count.get()?.n);
        put.run(c.k, new Uint8Array(1000));
        return c.k;
      },
    });
    for (let round = 0; round < 20; round++) {
      const ks = Array.from({ length: 20 }, (_, i) => round * 20 + i);
      const got = await Promise.all(ks.map((k) => writer.submit({ op: "put", k })));
      strictEqual(got.join(), ks.join());
    }
    strictEqual(await writer.submit({ op: "count" }), 400);
    const st = writer.stats();
    ok(st.wal !== null && st.wal.syncs >= 1 && st.wal.syncs <= st.batches, JSON.stringify(st));
    ok(st.wal !== null && st.wal.checkpoints >= 1, "400 KB of rows cross the 64 KiB threshold");
    ok((await Deno.stat(`${path}-wal`)).size < 200 * 1024, "the WAL was truncated");
    await writer.close();
    opened.db.close();
    const again = new DatabaseSync(path);
    strictEqual(again.prepare("SELECT count(*) AS n FROM kv").get()?.n, 400);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
