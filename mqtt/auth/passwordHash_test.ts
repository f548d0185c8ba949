import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { hashPassword, parsePasswordHash, verifyPassword } from "./passwordHash.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("hash then verify: right password yes, wrong no, salts differ", async () => {
  const a = await hashPassword("s3cret", 1000);
  const b = await hashPassword("s3cret", 1000);
  assert(a !== b, "random salt");
  assert(/^\$pbkdf2-sha512\$1000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(a), a);
  const parsed = parsePasswordHash(a);
  assertEquals(parsed.iterations, 1000);
  assertEquals(parsed.hash.length, 64);
  assert(await verifyPassword(enc("s3cret"), parsed));
  assertEquals(await verifyPassword(enc("s3cret "), parsed), false);
  assertEquals(await verifyPassword(new Uint8Array(0), parsed), false);
});

Deno.test("binary passwords are hashed as bytes", async () => {
  const pw = Uint8Array.of(0, 255, 10, 13);
  const parsed = parsePasswordHash(await hashPassword(pw, 1000));
  assert(await verifyPassword(pw, parsed));
  assertEquals(await verifyPassword(Uint8Array.of(0, 255, 10), parsed), false);
});

Deno.test("malformed hashes are refused with the reason", async () => {
  throws(() => parsePasswordHash("plaintext"), /must look like/);
  throws(() => parsePasswordHash("$pbkdf2-sha512$10$AAAAAAAAAAA=$AAAA"), /got 10$/);
  throws(() => parsePasswordHash("$pbkdf2-sha512$1e12$AAAA$AAAA"), /got 1000000000000/);
  throws(() => parsePasswordHash("$pbkdf2-sha512$1000$@@@$AAAA"), /salt is not base64/);
  throws(
    () => parsePasswordHash("$pbkdf2-sha512$1000$AAAA$AAAA"),
    /salt must be >= 8 bytes, got 3/,
  );
  await rejects(hashPassword("x", 5), /got 5/);
});
