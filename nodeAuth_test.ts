import { assertEquals } from "./testing/assert.ts";
import { configFromValues } from "./config/mod.ts";
import { createMemoryLogger } from "./log/jsonLog.ts";
import { addUser } from "./mqtt/auth/mod.ts";
import { buildAuthenticator } from "./nodeAuth.ts";

const enc = new TextEncoder();
const req = (username: string | null, password: string | null) => ({
  username,
  password: password === null ? null : enc.encode(password),
  clientId: "c1",
  listener: "tcp" as const,
  remoteAddress: "127.0.0.1",
  clientCertificate: null,
});

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

async function hs256(
  secret: Uint8Array<ArrayBuffer>,
  claims: Record<string, unknown>,
): Promise<string> {
  const head = b64url(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = b64url(enc.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`${head}.${body}`)));
  return `${head}.${body}.${b64url(sig)}`;
}

Deno.test("no authentication configured: anonymous and any credentials are accepted", async () => {
  const auth = await buildAuthenticator(configFromValues(undefined, {}), createMemoryLogger());
  assertEquals((await auth.authenticate(req(null, null))).ok, true);
  assertEquals((await auth.authenticate(req("bob", "x"))).ok, true);
});

Deno.test("password file: users verified, anonymous refused unless allowed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/passwd`;
    await addUser(file, "acme/alice", "pw1");
    const config = configFromValues({ mqttServiceConfig: { passwordFile: file } }, {});
    const auth = await buildAuthenticator(config, createMemoryLogger());
    assertEquals(await auth.authenticate(req("acme/alice", "pw1")), {
      ok: true,
      tenant: "acme",
      user: "alice",
    });
    assertEquals((await auth.authenticate(req("acme/alice", "nope"))).ok, false);
    assertEquals(await auth.authenticate(req(null, null)), { ok: false, reason: "not-authorized" });
    const open = await buildAuthenticator(
      configFromValues({ mqttServiceConfig: { passwordFile: file, allowAnonymous: true } }, {}),
      createMemoryLogger(),
    );
    assertEquals((await open.authenticate(req(null, null))).ok, true);
    assertEquals((await open.authenticate(req("mallory", "x"))).ok, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jwtAuth: a signed token in the password field authenticates, a forged one does not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const secret = enc.encode("0123456789abcdef0123456789abcdef");
    await Deno.writeFile(`${dir}/secret`, secret);
    const config = configFromValues({
      mqttServiceConfig: { jwtAuth: { hmacSecretFile: `${dir}/secret`, issuer: "me" } },
    }, {});
    const auth = await buildAuthenticator(config, createMemoryLogger());
    const exp = Math.floor(Date.now() / 1000) + 60;
    const good = await hs256(secret, { sub: "dev1", iss: "me", exp, tenant: "t9" });
    assertEquals(await auth.authenticate(req("dev1", good)), {
      ok: true,
      tenant: "t9",
      user: "dev1",
    });
    const forged = await hs256(enc.encode("another secret of 32 bytes......"), {
      sub: "dev1",
      iss: "me",
      exp,
    });
    assertEquals((await auth.authenticate(req("dev1", forged))).ok, false);
    assertEquals(await auth.authenticate(req(null, null)), { ok: false, reason: "not-authorized" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
