import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createJwtAuthenticator } from "./jwtAuthenticator.ts";
import type { AuthRequest } from "./types.ts";

const b64url = (bytes: Uint8Array | string) =>
  Buffer.from(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes).toString(
    "base64url",
  );

async function sign(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: CryptoKey,
  params: AlgorithmIdentifier | RsaPssParams | EcdsaParams,
): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign(params, key, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

async function spkiPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  return `-----BEGIN PUBLIC KEY-----\n${
    Buffer.from(der).toString("base64")
  }\n-----END PUBLIC KEY-----\n`;
}

function req(token: string | null, username: string | null = null): AuthRequest {
  return {
    username,
    password: token === null ? null : new TextEncoder().encode(token),
    clientId: "c",
    listener: "tcp",
    remoteAddress: "127.0.0.1",
    clientCertificate: null,
  };
}

const NOW_MS = 1_800_000_000_000;
const nowS = NOW_MS / 1000;
const SECRET = "0123456789abcdef0123456789abcdef";

Deno.test("HS256: valid token gives user from sub and tenant from the claim", async () => {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const auth = await createJwtAuthenticator({ hmacSecret: SECRET, nowMs: () => NOW_MS });
  const ok = await sign(
    { alg: "HS256" },
    { sub: "dev-7", tenant: "acme", exp: nowS + 60 },
    key,
    "HMAC",
  );
  assertEquals(await auth.authenticate(req(ok)), { ok: true, tenant: "acme", user: "dev-7" });
  const noTenant = await sign({ alg: "HS256" }, { exp: nowS + 60 }, key, "HMAC");
  assertEquals(await auth.authenticate(req(noTenant, "u")), {
    ok: true,
    tenant: "default",
    user: "u",
  });

  const bad = { ok: false, reason: "bad-credentials" };
  const expired = await sign({ alg: "HS256" }, { sub: "x", exp: nowS - 31 }, key, "HMAC");
  assertEquals(await auth.authenticate(req(expired)), bad);
  const withinSkew = await sign({ alg: "HS256" }, { sub: "x", exp: nowS - 29 }, key, "HMAC");
  assertEquals((await auth.authenticate(req(withinSkew))).ok, true);
  const early = await sign(
    { alg: "HS256" },
    { sub: "x", exp: nowS + 60, nbf: nowS + 60 },
    key,
    "HMAC",
  );
  assertEquals(await auth.authenticate(req(early)), bad);
  const noExp = await sign({ alg: "HS256" }, { sub: "x" }, key, "HMAC");
  assertEquals(await auth.authenticate(req(noExp)), bad);
  const tampered = ok.slice(0, -3) + (ok.endsWith("A") ? "BBB" : "AAA");
  assertEquals(await auth.authenticate(req(tampered)), bad);
  const none = `${b64url('{"alg":"none"}')}.${
    b64url(JSON.stringify({ sub: "x", exp: nowS + 60 }))
  }.`;
  assertEquals(await auth.authenticate(req(none)), bad);
  assertEquals(await auth.authenticate(req("not.a.jwt")), bad);
  assertEquals(await auth.authenticate(req(null)), bad);
  assertEquals(await auth.authenticate(req("x".repeat(9000))), bad);
});

Deno.test("issuer, audience and user-name checks", async () => {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-512" },
    false,
    ["sign"],
  );
  const auth = await createJwtAuthenticator({
    hmacSecret: SECRET,
    issuer: "https://idp",
    audience: "edgemq",
    usernameMustMatchSubject: true,
    nowMs: () => NOW_MS,
  });
  const claims = { sub: "alice", iss: "https://idp", aud: ["other", "edgemq"], exp: nowS + 60 };
  const good = await sign({ alg: "HS512" }, claims, key, "HMAC");
  assertEquals((await auth.authenticate(req(good, "alice"))).ok, true);
  assertEquals(await auth.authenticate(req(good, "mallory")), {
    ok: false,
    reason: "bad-credentials",
  });
  const wrongIss = await sign({ alg: "HS512" }, { ...claims, iss: "https://evil" }, key, "HMAC");
  assertEquals(await auth.authenticate(req(wrongIss)), { ok: false, reason: "not-authorized" });
  const wrongAud = await sign({ alg: "HS512" }, { ...claims, aud: "other" }, key, "HMAC");
  assertEquals(await auth.authenticate(req(wrongAud)), { ok: false, reason: "not-authorized" });
});

Deno.test("public keys: ES256, RS256, PS256, EdDSA; the key type fixes the algorithms", async () => {
  const cases: [
    string,
    RsaHashedKeyGenParams | EcKeyGenParams | AlgorithmIdentifier,
    AlgorithmIdentifier | RsaPssParams | EcdsaParams,
  ][] = [
    ["ES256", { name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
    ["RS256", {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    }, "RSASSA-PKCS1-v1_5"],
    ["PS256", {
      name: "RSA-PSS",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    }, { name: "RSA-PSS", saltLength: 32 }],
    ["EdDSA", { name: "Ed25519" }, "Ed25519"],
  ];
  for (const [alg, genParams, signParams] of cases) {
    const pair = await crypto.subtle.generateKey(genParams, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const pem = await spkiPem(pair.publicKey);
    const auth = await createJwtAuthenticator({ publicKeyPem: pem, nowMs: () => NOW_MS });
    const token = await sign({ alg }, { sub: "d", exp: nowS + 60 }, pair.privateKey, signParams);
    assertEquals(
      await auth.authenticate(req(token)),
      { ok: true, tenant: "default", user: "d" },
      alg,
    );
    // Key confusion: an HMAC token "signed" with the public key text must fail.
    const hmacKey = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(pem),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const confused = await sign({ alg: "HS256" }, { sub: "d", exp: nowS + 60 }, hmacKey, "HMAC");
    assertEquals((await auth.authenticate(req(confused))).ok, false, `${alg} confusion`);
  }
});

Deno.test("configuration errors are explicit", async () => {
  await rejects(createJwtAuthenticator({}), /needs hmacSecret or publicKeyPem/);
  await rejects(createJwtAuthenticator({ hmacSecret: "short" }), /at least 32 bytes, got 5/);
  await rejects(createJwtAuthenticator({ publicKeyPem: "nope" }), /BEGIN PUBLIC KEY/);
});
