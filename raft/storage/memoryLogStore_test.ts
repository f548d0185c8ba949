import { strictEqual } from "node:assert/strict";
import { logStoreSuite } from "./logStore.case.ts";
import { entryRange } from "./logStore.case.ts";
import { MemoryLogStore } from "./memoryLogStore.ts";

logStoreSuite("MemoryLogStore", () => {
  let store: MemoryLogStore | undefined;
  return {
    durable: false,
    open: () => (store ??= new MemoryLogStore()),
    cleanup: () => {},
  };
});

Deno.test("MemoryLogStore: clone is independent of the original", () => {
  const a = new MemoryLogStore();
  a.write([{ groupId: "g", entries: entryRange(1, 3, 1) }]);
  const b = a.clone();
  a.write([{ groupId: "g", entries: entryRange(3, 5, 2) }]);
  strictEqual(a.group("g").lastIndex(), 5);
  strictEqual(b.group("g").lastIndex(), 3);
  strictEqual(b.group("g").term(3), 1);
  strictEqual(a.writeBatches, 2);
});
