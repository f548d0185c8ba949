import { rejects, throws } from "node:assert/strict";
import { StoreClosedError } from "../sqlite/database.ts";
import { inboxStoreSuite, SUITE_LIMITS } from "./inboxStore.case.ts";
import { MemoryInboxStore } from "./memoryInboxStore.ts";

inboxStoreSuite("MemoryInboxStore", () => {
  let store: MemoryInboxStore | null = null;
  return {
    durable: false,
    open: (limits) => Promise.resolve(store = new MemoryInboxStore(limits)),
    cleanup: async () => await store?.close(),
  };
});

Deno.test("MemoryInboxStore: bad limits and use after close", async () => {
  throws(
    () => new MemoryInboxStore({ ...SUITE_LIMITS, maxQueuedMessages: -1 }),
    /maxQueuedMessages.*-1/,
  );
  const s = new MemoryInboxStore(SUITE_LIMITS);
  await s.close();
  await rejects(s.get({ tenant: "t", clientId: "c" }), StoreClosedError);
});
