import { ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { SqliteInboxStore } from "./sqliteInboxStore.ts";

// A writer process is killed (SIGKILL) mid-stream; every enqueue it saw resolve must be
// there after reopening — with no clean close, so recovery replays the WAL as written.
for (const mode of ["ASYNC", "FULL"] as const) {
  Deno.test(`SqliteInboxStore (${mode}): acknowledged enqueues survive a kill -9 of the writer`, async () => {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "inbox.db");
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./testdata/crash_writer.ts", import.meta.url).pathname,
          path,
          mode,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.getReader();
      const decoder = new TextDecoder();
      let text = "";
      let acked = 0;
      const deadline = Date.now() + 20_000;
      while (acked < 3000 && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        const lines = text.split("\n");
        text = lines.pop() ?? "";
        for (const l of lines) if (/^\d+$/.test(l)) acked = Math.max(acked, Number(l));
      }
      child.kill("SIGKILL");
      await reader.cancel();
      await child.status;
      ok(acked > 0, "the writer acknowledged something before the kill");
      const store = new SqliteInboxStore(path, {
        maxQueuedMessages: 1_000_000,
        overflowPolicy: "drop-newest",
        maxSubscriptions: 10,
        maxIncomingQos2: 10,
      });
      try {
        const meta = await store.get({ tenant: "t", clientId: "c" });
        ok(meta !== null && meta.lastSeq >= acked, `lastSeq ${meta?.lastSeq} < acked ${acked}`);
        const entries = await store.read({ tenant: "t", clientId: "c" }, 0, acked, 0);
        strictEqual(entries.length, acked);
        strictEqual(entries[acked - 1].seq, acked);
      } finally {
        await store.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
