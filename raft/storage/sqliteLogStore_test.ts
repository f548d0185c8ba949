import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { entryRange, logStoreSuite } from "./logStore.case.ts";
import { StorageCorruptionError } from "./logStorage.ts";
import { LogStoreInUseError, SqliteLogStore } from "./sqliteLogStore.ts";

logStoreSuite("SqliteLogStore", () => {
  const dir = Deno.makeTempDirSync({ prefix: "edgemq-logstore-" });
  return {
    durable: true,
    open: () => SqliteLogStore.open({ path: `${dir}/log.db` }),
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
});

logStoreSuite("SqliteLogStore (tiny tail cache, no verify on open)", () => {
  const dir = Deno.makeTempDirSync({ prefix: "edgemq-logstore-" });
  return {
    durable: true,
    open: () =>
      SqliteLogStore.open({
        path: `${dir}/log.db`,
        tailCacheEntries: 2,
        tailCacheBytes: 20,
        verifyOnOpen: false,
      }),
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
});

/** Runs `body` with a fresh database path and removes it afterwards. */
function withDb(body: (path: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "edgemq-logstore-" });
  try {
    body(`${dir}/log.db`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Writes 3 groups × 200 entries of 300 bytes with a recognisable marker, then closes. */
function populate(path: string): void {
  const s = SqliteLogStore.open({ path });
  for (const g of ["a", "b", "c"]) {
    const es = entryRange(1, 200, 3, 300).map((e) => {
      const data = e.data.slice();
      data.set(new TextEncoder().encode(`MARK-${g}-${String(e.index).padStart(4, "0")}`));
      return { ...e, data };
    });
    s.write([{ groupId: g, entries: es, hardState: { term: 3, vote: "n1", commit: 150 } }]);
  }
  s.close();
}

Deno.test("SqliteLogStore: one batch across many groups is one transaction", () => {
  withDb((path) => {
    const s = SqliteLogStore.open({ path });
    try {
      const batch = [];
      for (let g = 0; g < 300; g++) {
        batch.push({ groupId: `g${g}`, entries: entryRange(1, 10, 1, 256) });
      }
      s.write(batch);
      const st = s.stats();
      strictEqual(st.writeBatches, 1);
      strictEqual(st.entriesWritten, 3000);
      strictEqual(st.entryBytesWritten, 3000 * 256);
    } finally {
      s.close();
    }
  });
});

Deno.test("SqliteLogStore: reads of old entries go to disk, tail reads to the cache", () => {
  withDb((path) => {
    const s = SqliteLogStore.open({ path, tailCacheEntries: 10 });
    try {
      s.write([{ groupId: "g", entries: entryRange(1, 100, 1) }]);
      deepStrictEqual(s.group("g").entries(95, 101, Infinity).map((e) => e.index), [
        95,
        96,
        97,
        98,
        99,
        100,
      ]);
      strictEqual(s.stats().cacheReads, 1);
      deepStrictEqual(s.group("g").entries(5, 8, Infinity).map((e) => e.index), [5, 6, 7]);
      strictEqual(s.stats().diskReads, 1);
    } finally {
      s.close();
    }
  });
});

Deno.test("SqliteLogStore: a corrupted entry row is detected on open", () => {
  withDb((path) => {
    populate(path);
    const db = new DatabaseSync(path);
    db.exec("UPDATE entries SET data = zeroblob(300) WHERE idx = 77 AND gid = 2");
    db.close();
    const err = throws(() => SqliteLogStore.open({ path }), StorageCorruptionError);
    void err;
    // Tampering with the term (checksum kept) is detected as well.
    const db2 = new DatabaseSync(path);
    db2.exec(
      "UPDATE entries SET data = (SELECT data FROM entries WHERE gid = 1 AND idx = 77) WHERE gid = 2 AND idx = 77",
    );
    db2.exec("UPDATE entries SET term = 4 WHERE idx = 10 AND gid = 1");
    db2.close();
    throws(() => SqliteLogStore.open({ path }), /checksum mismatch in entry 10 of group a/);
  });
});

Deno.test("SqliteLogStore: corrupted bytes in the file are detected on open", () => {
  withDb((path) => {
    populate(path);
    const file = Deno.readFileSync(path);
    const marker = new TextEncoder().encode("MARK-b-0123");
    let at = -1;
    outer: for (let i = 0; i + marker.length <= file.length; i++) {
      for (let j = 0; j < marker.length; j++) if (file[i + j] !== marker[j]) continue outer;
      at = i;
      break;
    }
    ok(at >= 0, "marker found in the database file");
    file[at + 5] ^= 0x01; // "b" -> "c"
    Deno.writeFileSync(path, file);
    throws(() => SqliteLogStore.open({ path }), (e: unknown) => {
      ok(e instanceof StorageCorruptionError);
      ok(/entry 123 of group b/.test(e.message), e.message);
      return true;
    });
  });
});

Deno.test("SqliteLogStore: without verify on open, a corrupted row is still refused when read", () => {
  withDb((path) => {
    populate(path);
    const db = new DatabaseSync(path);
    db.exec("UPDATE entries SET data = zeroblob(300) WHERE idx = 5 AND gid = 1");
    db.close();
    const s = SqliteLogStore.open({ path, verifyOnOpen: false, tailCacheEntries: 16 });
    try {
      strictEqual(s.group("a").entries(6, 7, Infinity)[0].index, 6);
      throws(() => s.group("a").entries(1, 10, Infinity), StorageCorruptionError);
    } finally {
      s.close();
    }
  });
});

Deno.test("SqliteLogStore: missing rows and tampered group rows are detected on open", () => {
  withDb((path) => {
    populate(path);
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM entries WHERE gid = 3 AND idx >= 190");
    db.close();
    throws(() => SqliteLogStore.open({ path }), /log ends at 189 but the group row says 200/);
    const db2 = new DatabaseSync(path);
    db2.exec("UPDATE groups SET last_index = 189 WHERE gid = 3");
    db2.close();
    throws(() => SqliteLogStore.open({ path }), /checksum mismatch in the group row of c/);
  });
});

Deno.test("SqliteLogStore: a truncated file is detected on open", () => {
  for (const keepFraction of [0.5, 0.9, 0.1]) {
    withDb((path) => {
      populate(path);
      const size = Deno.statSync(path).size;
      Deno.truncateSync(path, Math.floor(size * keepFraction));
      throws(
        () => SqliteLogStore.open({ path }),
        StorageCorruptionError,
        `truncated to ${keepFraction} of ${size} bytes`,
      );
    });
  }
});

Deno.test("SqliteLogStore: a file that is not a database is refused", () => {
  withDb((path) => {
    Deno.writeTextFileSync(path, "this is not a database ".repeat(500));
    throws(() => SqliteLogStore.open({ path }), StorageCorruptionError);
  });
});

Deno.test("SqliteLogStore: a second store on the same file is refused while the first is open", () => {
  withDb((path) => {
    const a = SqliteLogStore.open({ path });
    try {
      a.write([{ groupId: "g", entries: entryRange(1, 2, 1) }]);
      throws(() => SqliteLogStore.open({ path }), LogStoreInUseError);
      // The first store is unaffected.
      a.write([{ groupId: "g", entries: entryRange(3, 3, 1) }]);
      strictEqual(a.group("g").lastIndex(), 3);
    } finally {
      a.close();
    }
    const b = SqliteLogStore.open({ path });
    strictEqual(b.group("g").lastIndex(), 3);
    b.close();
  });
});
