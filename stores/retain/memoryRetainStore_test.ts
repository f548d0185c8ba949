import { throws } from "node:assert/strict";
import { MemoryRetainStore } from "./memoryRetainStore.ts";
import { retainStoreSuite } from "./retainStore.case.ts";

retainStoreSuite("MemoryRetainStore", () => {
  let store: MemoryRetainStore | null = null;
  return {
    durable: false,
    open: (limits) => Promise.resolve(store = new MemoryRetainStore(limits)),
    cleanup: async () => await store?.close(),
  };
});

Deno.test("MemoryRetainStore: bad limits are rejected with the value", () => {
  throws(() => new MemoryRetainStore({ maxRetainedPerTenant: -3 }), /maxRetainedPerTenant.*-3/);
});
