import { ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { defaultLocalStoresConfig, openLocalStores } from "./mod.ts";
import { StoreCorruptError } from "./sqlite/database.ts";

Deno.test("openLocalStores: creates the directory and three databases; data survives reopen", async () => {
  const root = await Deno.makeTempDir();
  const dataDir = join(root, "nested", "data");
  try {
    let stores = await openLocalStores(dataDir, defaultLocalStoresConfig());
    const key = { tenant: "t", clientId: "c" };
    const { meta } = await stores.inbox.attach(key, {
      cleanStart: true,
      sessionExpirySeconds: 60,
      nowMs: 1,
    });
    await stores.dist.addRoutes([{
      tenant: "t",
      filter: "a/#",
      shareGroup: null,
      receiverId: "i:t\u0000c",
      incarnation: meta.incarnation,
      options: {
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
        subscriptionId: null,
      },
    }]);
    await stores.retain.set({
      tenant: "t",
      topic: "a/b",
      payload: new Uint8Array([1]),
      qos: 0,
      retain: true,
      publisherClientId: "p",
      receivedAtMs: 1,
      expiresAtMs: null,
      properties: {},
    });
    const { owner } = await stores.sessions.claim(key, "n1", 1);
    ok(owner.incarnation > 1_600_000_000_000, "incarnations start at the clock");
    await stores.close();
    await stores.close(); // idempotent
    for (const f of ["dist.db", "inbox.db", "retain.db"]) {
      ok((await Deno.stat(join(dataDir, f))).isFile, f);
    }
    stores = await openLocalStores(dataDir, defaultLocalStoresConfig());
    strictEqual(stores.dist.routeCount(), 1);
    strictEqual(stores.retain.count("t"), 1);
    strictEqual((await stores.inbox.get(key))?.incarnation, meta.incarnation);
    strictEqual(await stores.sessions.owner(key), null, "ownership does not survive a restart");
    await stores.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openLocalStores: a data path that is a file is a clear error", async () => {
  const root = await Deno.makeTempDir();
  try {
    const file = join(root, "file");
    await Deno.writeTextFile(file, "x");
    await rejects(
      openLocalStores(file, defaultLocalStoresConfig()),
      (e: unknown) =>
        e instanceof Error && e.message.includes(file) && e.message.includes("not writable"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openLocalStores: a corrupt database names the file; nothing is left open", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(root, "inbox.db"), "garbage ".repeat(1000));
    await rejects(
      openLocalStores(root, defaultLocalStoresConfig()),
      (e: unknown) => e instanceof StoreCorruptError && e.message.includes(join(root, "inbox.db")),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openLocalStores: malformed config names the field", async () => {
  await rejects(
    openLocalStores("/nonexistent", { ...defaultLocalStoresConfig(), maxCommandsPerBatch: 0 }),
    /maxCommandsPerBatch.*0/,
  );
  await rejects(
    openLocalStores("/nonexistent", {
      ...defaultLocalStoresConfig(),
      inbox: { ...defaultLocalStoresConfig().inbox, overflowPolicy: "drop-all" as "drop-newest" },
    }),
    /overflowPolicy/,
  );
});

Deno.test("openLocalStores: a second opener of the same directory is refused", async () => {
  const root = await Deno.makeTempDir();
  try {
    const first = await openLocalStores(root, defaultLocalStoresConfig());
    await rejects(openLocalStores(root, defaultLocalStoresConfig()), /locked by another process/);
    await first.close();
    const again = await openLocalStores(root, defaultLocalStoresConfig());
    await again.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
