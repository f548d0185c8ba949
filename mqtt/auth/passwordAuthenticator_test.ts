import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createMemoryLogger } from "../../log/jsonLog.ts";
import { addUser } from "./passwordFile.ts";
import {
  createAnonymousAuthenticator,
  createPasswordFileAuthenticator,
} from "./passwordAuthenticator.ts";
import type { AuthRequest } from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function req(username: string | null, password: string | null): AuthRequest {
  return {
    username,
    password: password === null ? null : enc(password),
    clientId: "c1",
    listener: "tcp",
    remoteAddress: "127.0.0.1",
    clientCertificate: null,
  };
}

async function withFile(fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/passwd`;
    await addUser(file, "alice", "apw", undefined, 1000);
    await addUser(file, "acme/bob", "bpw", undefined, 1000);
    await addUser(file, "carol", "cpw", "globex", 1000);
    await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("password file: users, tenants, wrong passwords, anonymous", () =>
  withFile(async (file) => {
    const auth = await createPasswordFileAuthenticator(file);
    assertEquals(auth.userCount, 3);
    assertEquals(await auth.authenticate(req("alice", "apw")), {
      ok: true,
      tenant: "default",
      user: "alice",
    });
    assertEquals(await auth.authenticate(req("acme/bob", "bpw")), {
      ok: true,
      tenant: "acme",
      user: "bob",
    });
    assertEquals(await auth.authenticate(req("globex/carol", "cpw")), {
      ok: true,
      tenant: "globex",
      user: "carol",
    });
    assertEquals(await auth.authenticate(req("carol", "cpw")), {
      ok: true,
      tenant: "globex",
      user: "carol",
    });
    const bad = { ok: false, reason: "bad-credentials" };
    assertEquals(await auth.authenticate(req("alice", "bpw")), bad);
    assertEquals(await auth.authenticate(req("nobody", "apw")), bad);
    assertEquals(await auth.authenticate(req("alice", null)), bad);
    assertEquals(await auth.authenticate(req(null, null)), { ok: false, reason: "not-authorized" });
    const open = await createPasswordFileAuthenticator(file, { allowAnonymous: true });
    assertEquals(await open.authenticate(req(null, null)), {
      ok: true,
      tenant: "default",
      user: null,
    });
  }));

Deno.test("successful verifications are cached; a changed password invalidates them on reload", () =>
  withFile(async (file) => {
    let now = 0;
    const log = createMemoryLogger();
    const auth = await createPasswordFileAuthenticator(file, {
      nowMs: () => now,
      reloadCheckIntervalMs: 1000,
      log,
    });
    assert((await auth.authenticate(req("alice", "apw"))).ok);
    assert((await auth.authenticate(req("alice", "apw"))).ok);
    assertEquals(auth.stats, { cacheHits: 1, verifications: 1, busyRejections: 0 });
    assertEquals((await auth.authenticate(req("alice", "wrong"))).ok, false);
    assertEquals(auth.stats.verifications, 2, "failures are never cached");

    await addUser(file, "alice", "new", undefined, 1000);
    now = 500; // before the check interval: old table still in force
    assert((await auth.authenticate(req("alice", "apw"))).ok);
    now = 1500;
    assertEquals((await auth.authenticate(req("alice", "apw"))).ok, false);
    assert((await auth.authenticate(req("alice", "new"))).ok);
    assert(log.lines.some((l) => l.event === "auth.reloaded"));

    await Deno.writeTextFile(file, "broken line\n");
    now = 3000;
    assert((await auth.authenticate(req("alice", "new"))).ok, "old table kept");
    assertEquals(log.lines.filter((l) => l.event === "auth.reload-failed").length, 1);
  }));

Deno.test("verifications beyond the concurrency and queue bounds get server-busy", () =>
  withFile(async (file) => {
    const auth = await createPasswordFileAuthenticator(file, {
      maxConcurrentVerifications: 1,
      maxQueuedVerifications: 2,
      cacheMaxEntries: 0,
    });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => auth.authenticate(req("alice", "apw"))),
    );
    assertEquals(results.map((r) => (r.ok ? "ok" : r.reason)), [
      "ok",
      "ok",
      "ok",
      "server-busy",
      "server-busy",
    ]);
    assertEquals(auth.stats.busyRejections, 2);
    assert((await auth.authenticate(req("alice", "apw"))).ok, "slots are released");
  }));

Deno.test("a missing or broken file fails start-up with the path", async () => {
  try {
    await createPasswordFileAuthenticator("/nonexistent/passwd");
    throw new Error("expected failure");
  } catch (error) {
    assert(String(error).includes("cannot read password file /nonexistent/passwd"));
  }
});

Deno.test("anonymous authenticator admits everyone into the default tenant", async () => {
  assertEquals(await createAnonymousAuthenticator().authenticate(req("x", null)), {
    ok: true,
    tenant: "default",
    user: "x",
  });
});
