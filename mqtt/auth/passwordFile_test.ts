import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { hashPassword } from "./passwordHash.ts";
import {
  addUser,
  lookupLogin,
  parsePasswordFile,
  removeUser,
  resolveName,
} from "./passwordFile.ts";

const H = await hashPassword("pw", 1000);

Deno.test("tenants come from the name prefix, the tenant field, or default", () => {
  const table = parsePasswordFile(
    `# users\n\nalice:${H}\nacme/bob:${H}\n  carol:${H}:globex  \n`,
  );
  assertEquals(table.byName.size, 3);
  const pick = (login: string) => {
    const e = lookupLogin(table, login);
    return e === undefined ? null : [e.tenant, e.user];
  };
  assertEquals(pick("alice"), ["default", "alice"]);
  assertEquals(pick("default/alice"), ["default", "alice"]);
  assertEquals(pick("acme/bob"), ["acme", "bob"]);
  assertEquals(pick("bob"), null);
  assertEquals(pick("carol"), ["globex", "carol"]);
  assertEquals(pick("globex/carol"), ["globex", "carol"]);
  assertEquals(pick("acme/carol"), null);
});

Deno.test("parse errors name the line and what is wrong", () => {
  throws(
    () => parsePasswordFile(`a:${H}\nb`, "users.txt"),
    /^Error: users.txt:2: expected name:hash\[:tenant\], got 1 field/,
  );
  throws(() => parsePasswordFile(`a:${H}\na:${H}`), /:2: duplicate user name "a"/);
  throws(() => parsePasswordFile(`t/a:${H}\na:${H}:t`), /:2: duplicate user "a" in tenant "t"/);
  throws(() => parsePasswordFile(`t/a:${H}:u`), /prefix "t" but tenant field "u"/);
  throws(() => parsePasswordFile(`a:${H}:bad tenant!`), /tenant must match/);
  throws(() => parsePasswordFile(`a/b/c:${H}`), /"user" or "tenant\/user", got "a\/b\/c"/);
  throws(() => parsePasswordFile(`a:nothash`), /:1: password hash must look like/);
  throws(() => resolveName(""), /got 0/);
  throws(() => resolveName("a b"), /white space/);
});

Deno.test("addUser creates, replaces and keeps comments; removeUser removes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/passwd`;
    await addUser(file, "alice", "one", undefined, 1000);
    await Deno.writeTextFile(file, "# keep me\n" + await Deno.readTextFile(file));
    await addUser(file, "bob", "two", "acme", 1000);
    const before = await Deno.readTextFile(file);
    await addUser(file, "alice", "three", undefined, 1000);
    const after = await Deno.readTextFile(file);
    const lines = after.trimEnd().split("\n");
    assertEquals(lines.length, 3);
    assertEquals(lines[0], "# keep me");
    assert(lines[1].startsWith("alice:$pbkdf2-sha512$1000$"));
    assert(lines[2].endsWith(":acme"));
    assert(before.split("\n")[1] !== lines[1], "alice's hash replaced");
    assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
    assertEquals(await removeUser(file, "alice"), true);
    assertEquals(await removeUser(file, "alice"), false);
    const table = parsePasswordFile(await Deno.readTextFile(file));
    assertEquals([...table.byName.keys()], ["bob"]);
    await throwsAsync(() => addUser(file, "x:y", "pw", undefined, 1000), /":"/);
    await throwsAsync(() => addUser(file, "x", "", undefined, 1000), /must not be empty/);
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).length, 1, "no temp files left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function throwsAsync(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert(pattern.test(String(error)), String(error));
    return;
  }
  throw new Error(`expected a rejection matching ${pattern}`);
}
