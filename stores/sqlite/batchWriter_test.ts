import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { BatchWriter } from "./batchWriter.ts";
import { openDatabase, StoreClosedError, StoreCorruptError } from "./database.ts";

type Cmd = { op: "put"; k: string; v: number } | { op: "fail"; k: string };

function setup(maxCommandsPerBatch?: number) {
  const opened = openDatabase(":memory:");
  opened.db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)");
  const put = opened.db.prepare("INSERT OR REPLACE INTO kv VALUES (?, ?)");
  let rollbacks = 0;
  const committed: Cmd[] = [];
  const writer = new BatchWriter<Cmd, number>({
    name: "test",
    opened,
    maxCommandsPerBatch,
    apply: (c) => {
      if (c.op === "put") {
        put.run(c.k, c.v);
        return c.v * 2;
      }
      put.run(c.k, -1); // written, then rolled back by the savepoint
      throw new Error(`command fails for key ${c.k}`);
    },
    afterCommit: (applied) => committed.push(...applied.map((a) => a.command)),
    afterRollback: () => rollbacks++,
  });
  const rows = () =>
    opened.db.prepare("SELECT k, v FROM kv ORDER BY k").all().map((r) => [r.k, r.v]);
  return { opened, writer, rows, committed, rollbacks: () => rollbacks };
}

Deno.test("BatchWriter: commands of one turn share one transaction, results in order", async () => {
  const { opened, writer, rows, committed } = setup();
  const results = await Promise.all(
    [1, 2, 3].map((v) => writer.submit({ op: "put", k: `k${v}`, v })),
  );
  deepStrictEqual(results, [2, 4, 6]);
  strictEqual(writer.stats().batches, 1);
  strictEqual(committed.length, 3);
  deepStrictEqual(rows(), [["k1", 1], ["k2", 2], ["k3", 3]]);
  await writer.close();
  opened.db.close();
});

Deno.test("BatchWriter: a failing command rejects only its own promise and leaves no trace", async () => {
  const { opened, writer, rows, rollbacks } = setup();
  const a = writer.submit({ op: "put", k: "a", v: 1 });
  const b = writer.submit({ op: "fail", k: "b" });
  const c = writer.submit({ op: "put", k: "c", v: 3 });
  strictEqual(await a, 2);
  await rejects(b, /command fails for key b/);
  strictEqual(await c, 6);
  deepStrictEqual(rows(), [["a", 1], ["c", 3]]);
  ok(rollbacks() >= 1);
  strictEqual(writer.stats().failedCommands, 1);
  await writer.close();
  opened.db.close();
});

Deno.test("BatchWriter: a single failing command rolls back its transaction", async () => {
  const { opened, writer, rows } = setup();
  await rejects(writer.submit({ op: "fail", k: "x" }), /key x/);
  deepStrictEqual(rows(), []);
  strictEqual(await writer.submit({ op: "put", k: "y", v: 1 }), 2);
  await writer.close();
  opened.db.close();
});

Deno.test("BatchWriter: a full batch is flushed early; later turns get new transactions", async () => {
  const { opened, writer, rows } = setup(2);
  const ps = [1, 2, 3, 4, 5].map((v) => writer.submit({ op: "put", k: `k${v}`, v }));
  strictEqual(writer.pendingCount, 1); // 2 + 2 flushed synchronously
  await Promise.all(ps);
  strictEqual(writer.stats().batches, 3);
  await writer.submit({ op: "put", k: "z", v: 0 });
  strictEqual(writer.stats().batches, 4);
  strictEqual(rows().length, 6);
  await writer.close();
  opened.db.close();
});

Deno.test("BatchWriter: close flushes pending commands, then rejects new ones", async () => {
  const { opened, writer, rows } = setup();
  const p = writer.submit({ op: "put", k: "a", v: 1 });
  await writer.close();
  strictEqual(await p, 2);
  deepStrictEqual(rows(), [["a", 1]]);
  await rejects(writer.submit({ op: "put", k: "b", v: 1 }), StoreClosedError);
  opened.db.close();
});

Deno.test("BatchWriter: a failing COMMIT rejects the whole batch; the next batch works", async () => {
  const opened = openDatabase(":memory:");
  const db = opened.db;
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  db.exec(
    "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
  );
  const insert = db.prepare("INSERT INTO child VALUES (?, ?)");
  let rollbacks = 0;
  const writer = new BatchWriter<{ id: number; parent: number }, number>({
    name: "fk",
    opened,
    apply: (c) => {
      insert.run(c.id, c.parent);
      return c.id;
    },
    afterRollback: () => rollbacks++,
  });
  db.exec("INSERT INTO parent VALUES (1)");
  // The deferred foreign key fails only at COMMIT: every command of the batch fails with it.
  const results = await Promise.allSettled([
    writer.submit({ id: 1, parent: 1 }),
    writer.submit({ id: 2, parent: 99 }),
  ]);
  deepStrictEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  strictEqual(rollbacks, 1);
  strictEqual(db.prepare("SELECT count(*) AS n FROM child").get()?.n, 0);
  strictEqual(await writer.submit({ id: 3, parent: 1 }), 3);
  strictEqual(db.prepare("SELECT count(*) AS n FROM child").get()?.n, 1);
  await writer.close();
  db.close();
});

Deno.test("BatchWriter: a corruption error inside a command names the database file", async () => {
  const opened = openDatabase(":memory:");
  const writer = new BatchWriter<number, number>({
    name: "c",
    opened,
    apply: (n) => {
      if (n === 2) throw new Error("database disk image is malformed");
      return n;
    },
  });
  const [a, b] = await Promise.allSettled([writer.submit(1), writer.submit(2)]);
  strictEqual(a.status, "fulfilled");
  ok(
    b.status === "rejected" && b.reason instanceof StoreCorruptError &&
      b.reason.message.includes(":memory:"),
  );
  await writer.close();
  opened.db.close();
});
