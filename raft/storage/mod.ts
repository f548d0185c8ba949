/**
 * Raft log storage: the shared contract and its implementations.
 *
 * @module
 */

export * from "./logStorage.ts";
export { EMPTY_CONF_STATE, EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from "./logRules.ts";
export { MemoryLogStore } from "./memoryLogStore.ts";
export {
  SqliteLogStore,
  type SqliteLogStoreOptions,
  type SqliteLogStoreStats,
} from "./sqliteLogStore.ts";
