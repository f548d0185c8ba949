import { strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { openDatabase, quickCheck, StoreCorruptError } from "./database.ts";

Deno.test("openDatabase: WAL and synchronous=FULL on a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const o = openDatabase(join(dir, "a.db"));
    strictEqual(o.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    strictEqual(o.db.prepare("PRAGMA synchronous").get()?.synchronous, 2);
    quickCheck(o);
    o.db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase: a file that is not a database fails with an error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "junk.db");
    await Deno.writeTextFile(path, "this is not a sqlite file, just text. ".repeat(200));
    throws(
      () => openDatabase(path),
      (e: unknown) => e instanceof StoreCorruptError && e.message.includes(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase: an unopenable path names the path", () => {
  throws(() => openDatabase("/nonexistent-dir-edgemq/x.db"), /\/nonexistent-dir-edgemq\/x\.db/);
});

Deno.test("openDatabase: an exclusive database cannot be opened twice", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "x.db");
    const a = openDatabase(path, { exclusive: true });
    throws(() => openDatabase(path, { exclusive: true }), /locked by another process/);
    throws(() => openDatabase(path, { busyTimeoutMs: 0 }), /locked by another process/);
    a.db.close();
    const b = openDatabase(path, { exclusive: true });
    b.db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
