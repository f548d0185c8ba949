import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { StoreClosedError } from "../sqlite/database.ts";
import { LocalSessionRegistry } from "./localSessionRegistry.ts";
import { sessionRegistrySuite } from "./sessionRegistry.case.ts";

sessionRegistrySuite("LocalSessionRegistry", () => ({
  open: () => Promise.resolve(new LocalSessionRegistry({ onListenerError: () => {} })),
  cleanup: () => Promise.resolve(),
}));

const K = { tenant: "t", clientId: "c" };

Deno.test("LocalSessionRegistry: re-claim by the same connection renews without a kick", async () => {
  const r = new LocalSessionRegistry();
  let kicks = 0;
  r.onKick(() => kicks++);
  const a = await r.claim(K, "n1", 1);
  const b = await r.claim(K, "n1", 1);
  strictEqual(b.displaced, null);
  strictEqual(kicks, 0);
  strictEqual(b.owner.incarnation > a.owner.incarnation, true);
  await r.close();
  await rejects(r.owner(K), StoreClosedError);
});

Deno.test("LocalSessionRegistry: listener errors are reported, firstIncarnation honoured", async () => {
  const errors: unknown[] = [];
  const r = new LocalSessionRegistry({
    onListenerError: (e) => errors.push(e),
    firstIncarnation: 1000,
  });
  r.onKick(() => {
    throw new Error("boom");
  });
  const a = await r.claim(K, "n1", 1);
  strictEqual(a.owner.incarnation, 1000);
  await r.claim(K, "n1", 2);
  deepStrictEqual(errors.map((e) => String(e)), ["Error: boom"]);
  await rejects(r.claim(K, "", 3), /nodeId/);
  await r.close();
});
