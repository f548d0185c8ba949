/**
 * The broker's stores: contracts, local (single-node) implementations, the
 * shared SQLite layer and the topic helpers. The replicated (base-kv)
 * implementations will be exported from here too.
 *
 * @module
 */
export * from "./message.ts";
export * from "./messageCodec.ts";
export * from "./qos.ts";
export * from "./localStores.ts";

export * from "./sqlite/database.ts";
export * from "./sqlite/batchWriter.ts";
export { WalSyncer, type WalSyncStats } from "./sqlite/walSyncer.ts";

export * from "./dist/distStore.ts";
export * from "./dist/topicValidation.ts";
export { TopicTrie } from "./dist/topicTrie.ts";
export { RouteIndex, type RouteIndexOptions } from "./dist/routeIndex.ts";
export {
  type DistCommand,
  type DistCommandResult,
  DistStateMachine,
  validateRoute,
} from "./dist/distCommands.ts";
export { SqliteDistStore, type SqliteDistStoreOptions } from "./dist/sqliteDistStore.ts";
export { MemoryDistStore } from "./dist/memoryDistStore.ts";

export * from "./inbox/inboxStore.ts";
export { defaultInboxLimits, validateInboxLimits } from "./inbox/inboxRules.ts";
export {
  type InboxCommand,
  type InboxCommandGuard,
  type InboxCommandKey,
  type InboxCommandResult,
  InboxStateMachine,
  type InboxStateMachineOptions,
} from "./inbox/inboxCommands.ts";
export { MemoryInboxStore } from "./inbox/memoryInboxStore.ts";
export { RecentEntries, type RecentEntriesOptions } from "./inbox/recentEntries.ts";
export { SqliteInboxStore, type SqliteInboxStoreOptions } from "./inbox/sqliteInboxStore.ts";

export * from "./retain/retainStore.ts";
export {
  defaultRetainLimits,
  type RetainLimits,
  validateRetainLimits,
} from "./retain/retainRules.ts";
export {
  type RetainCommand,
  type RetainCommandResult,
  type RetainedRef,
  RetainStateMachine,
} from "./retain/retainCommands.ts";
export { MemoryRetainStore } from "./retain/memoryRetainStore.ts";
export { SqliteRetainStore, type SqliteRetainStoreOptions } from "./retain/sqliteRetainStore.ts";

export * from "./sessions/sessionRegistry.ts";
export {
  LocalSessionRegistry,
  type LocalSessionRegistryOptions,
} from "./sessions/localSessionRegistry.ts";
