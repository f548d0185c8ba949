import { notStrictEqual as assertNotEquals, strictEqual as assertEquals } from "node:assert/strict";
import { crc32c, CRC32C_INIT, crc32cFinish, crc32cUpdate, crc32cUpdateUint } from "./crc32c.ts";

Deno.test("crc32c matches the RFC 3720 check values", () => {
  assertEquals(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assertEquals(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const ascending = new Uint8Array(32).map((_, i) => i);
  assertEquals(crc32c(ascending), 0x46dd794e);
});

Deno.test("crc32c is incremental and sensitive to integer fields", () => {
  const bytes = new TextEncoder().encode("hello, raft log");
  const split = crc32cFinish(
    crc32cUpdate(crc32cUpdate(CRC32C_INIT, bytes.subarray(0, 5)), bytes.subarray(5)),
  );
  assertEquals(split, crc32c(bytes));
  assertNotEquals(
    crc32cFinish(crc32cUpdateUint(CRC32C_INIT, 2 ** 32)),
    crc32cFinish(crc32cUpdateUint(CRC32C_INIT, 0)),
  );
});
