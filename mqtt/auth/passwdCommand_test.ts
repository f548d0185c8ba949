import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createMemoryLogger } from "../../log/jsonLog.ts";
import { runPasswdCommand } from "./passwdCommand.ts";
import { parsePasswordFile } from "./passwordFile.ts";

Deno.test("passwd adds, updates with tenant, deletes; usage errors exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/passwd`;
    const lines: string[] = [];
    const io = { readPassword: () => Promise.resolve("pw"), log: (l: string) => lines.push(l) };
    assertEquals(await runPasswdCommand(["--iterations", "1000", file, "alice"], io), 0);
    assertEquals(
      await runPasswdCommand(["--tenant", "acme", "--iterations", "1000", file, "bob"], io),
      0,
    );
    const table = parsePasswordFile(await Deno.readTextFile(file));
    assertEquals(table.byName.get("bob")?.tenant, "acme");
    assertEquals(await runPasswdCommand(["--delete", file, "alice"], io), 0);
    assertEquals(await runPasswdCommand(["--delete", file, "alice"], io), 1);
    assertEquals(await runPasswdCommand([file], io), 2);
    assertEquals(await runPasswdCommand(["--bogus", file, "x"], io), 2);
    assertEquals(await runPasswdCommand(["--tenant"], io), 2);
    assert(lines.some((l) => l.includes("usage: passwd")));
    const empty = { readPassword: () => Promise.resolve(""), log: createMemoryLogger() };
    assertEquals(await runPasswdCommand([file, "carol"], empty), 1);
    assertEquals(empty.log.lines[0].event, "passwd.failed");
    assert(String(empty.log.lines[0].message).includes("must not be empty"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
