import { distStoreSuite } from "./distStore.case.ts";
import { MemoryDistStore } from "./memoryDistStore.ts";

distStoreSuite("MemoryDistStore", () => {
  let store: MemoryDistStore | null = null;
  return {
    durable: false,
    open: () => Promise.resolve(store = new MemoryDistStore()),
    cleanup: async () => await store?.close(),
  };
});
