/**
 * Opens the four local (single-node) stores of a broker under one data
 * directory: `dist.db`, `inbox.db`, `retain.db` (separate files, so one
 * store's fsyncs and checkpoints do not stall another's), and the in-memory
 * session registry.
 *
 * @module
 */
import { join } from "node:path";
import type { SyncMode } from "./sqlite/database.ts";
import { SqliteDistStore } from "./dist/sqliteDistStore.ts";
import { defaultInboxLimits, validateInboxLimits } from "./inbox/inboxRules.ts";
import type { InboxLimits } from "./inbox/inboxStore.ts";
import { SqliteInboxStore } from "./inbox/sqliteInboxStore.ts";
import {
  defaultRetainLimits,
  type RetainLimits,
  validateRetainLimits,
} from "./retain/retainRules.ts";
import { SqliteRetainStore } from "./retain/sqliteRetainStore.ts";
import { LocalSessionRegistry } from "./sessions/localSessionRegistry.ts";

/** Configuration of {@link openLocalStores}; see {@link defaultLocalStoresConfig}. */
export interface LocalStoresConfig {
  /** Per-inbox limits (queue length and drop policy, subscriptions, QoS 2 ids). */
  readonly inbox: InboxLimits;
  /** Retained messages per tenant. */
  readonly retain: RetainLimits;
  /**
   * Most commands in one transaction per store. Larger batches mean fewer
   * fsyncs under load but longer commits (and later acks for the first
   * callers of a turn). Default 1024.
   */
  readonly maxCommandsPerBatch: number;
  /** Topic → match result cache entries of the dist store (0 disables). Default 1024. */
  readonly distMatchCacheEntries: number;
  /** Inboxes whose meta (last seq, queue length) is cached in memory. Default 100,000. */
  readonly maxCachedInboxes: number;
  /**
   * Durability of the store databases. "ASYNC" (default) and "FULL": a write
   * resolves only once fsynced — what the broker's PUBACK promise needs.
   * "FULL" lets SQLite fsync inside COMMIT, blocking the event loop for the
   * disk's flush time (measured 1-5 ms here); "ASYNC" fdatasyncs the WAL off
   * the JS thread (and runs fully synced checkpoints itself), so the broker
   * keeps serving while the disk flushes, and reads do not wait for fsyncs.
   * "NORMAL": may lose the last commits on power loss (never corrupts); for
   * tests and benchmarks only.
   */
  readonly synchronous: SyncMode;
  /**
   * "ASYNC" mode: WAL size past which a checkpoint runs (on the JS thread,
   * fully synced). Smaller: shorter, more frequent stalls. Default 16 MiB.
   */
  readonly checkpointWalBytes: number;
  /** How long SQLite waits for a lock held by another connection. Default 5000 ms. */
  readonly busyTimeoutMs: number;
  /**
   * First incarnation the session registry hands out. Default: the current time
   * in ms, so that incarnations keep increasing across restarts of this node.
   */
  readonly firstSessionIncarnation: number;
}

/**
 * Defaults: inbox 1000 queued messages per session, drop-newest, 100
 * subscriptions, 65535 incoming QoS 2 ids; 100,000 retained topics per
 * tenant; 1024 commands per transaction; 1024 cached match results; 100,000
 * cached inbox metas; every write fsynced, off the JS thread ("ASYNC"),
 * checkpoint at 16 MiB of WAL; 5 s busy timeout; session
 * incarnations start at the current time in ms (increasing across restarts).
 */
export function defaultLocalStoresConfig(): LocalStoresConfig {
  return {
    inbox: defaultInboxLimits(),
    retain: defaultRetainLimits(),
    maxCommandsPerBatch: 1024,
    distMatchCacheEntries: 1024,
    maxCachedInboxes: 100_000,
    synchronous: "ASYNC",
    checkpointWalBytes: 16 * 1024 * 1024,
    busyTimeoutMs: 5000,
    firstSessionIncarnation: Date.now(),
  };
}

/** The opened stores. */
export interface LocalStores {
  /** Routes and topic matching. */
  readonly dist: SqliteDistStore;
  /** Persistent sessions. */
  readonly inbox: SqliteInboxStore;
  /** Retained messages. */
  readonly retain: SqliteRetainStore;
  /** Client-id ownership. */
  readonly sessions: LocalSessionRegistry;
  /** Flushes and closes every store. */
  close(): Promise<void>;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`stores config ${name} must be a positive integer, got ${v}`);
  }
}

/** Throws a RangeError naming the field when `config` is malformed. */
export function validateLocalStoresConfig(config: LocalStoresConfig): void {
  validateInboxLimits(config.inbox);
  validateRetainLimits(config.retain);
  positiveInt("maxCommandsPerBatch", config.maxCommandsPerBatch);
  positiveInt("maxCachedInboxes", config.maxCachedInboxes);
  positiveInt("firstSessionIncarnation", config.firstSessionIncarnation);
  positiveInt("checkpointWalBytes", config.checkpointWalBytes);
  if (!Number.isSafeInteger(config.distMatchCacheEntries) || config.distMatchCacheEntries < 0) {
    throw new RangeError(
      `stores config distMatchCacheEntries must be a non-negative integer, got ${config.distMatchCacheEntries}`,
    );
  }
  if (!Number.isSafeInteger(config.busyTimeoutMs) || config.busyTimeoutMs < 0) {
    throw new RangeError(`stores config busyTimeoutMs must be >= 0, got ${config.busyTimeoutMs}`);
  }
  if (
    config.synchronous !== "FULL" && config.synchronous !== "ASYNC" &&
    config.synchronous !== "NORMAL"
  ) {
    throw new RangeError(
      `stores config synchronous must be "FULL", "ASYNC" or "NORMAL", got ${
        JSON.stringify(config.synchronous)
      }`,
    );
  }
}

/**
 * Opens (creating if absent) `dataDir` and the stores in it. Fails with a
 * message naming the directory when it cannot be created or written, with a
 * `StoreCorruptError` naming the file when a database is damaged, and at once
 * when another process holds the databases open (each is locked exclusively).
 */
export async function openLocalStores(
  dataDir: string,
  config: LocalStoresConfig,
): Promise<LocalStores> {
  validateLocalStoresConfig(config);
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    const probe = join(dataDir, `.write-probe-${Deno.pid}`);
    await Deno.writeTextFile(probe, "ok");
    await Deno.remove(probe);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`data directory ${dataDir} is not writable: ${detail}`, { cause: err });
  }
  const dbOptions = {
    exclusive: true,
    synchronous: config.synchronous,
    checkpointWalBytes: config.checkpointWalBytes,
    busyTimeoutMs: config.busyTimeoutMs,
    maxCommandsPerBatch: config.maxCommandsPerBatch,
  };
  const opened: { close(): Promise<void> }[] = [];
  try {
    const dist = new SqliteDistStore(join(dataDir, "dist.db"), {
      ...dbOptions,
      matchCacheEntries: config.distMatchCacheEntries,
    });
    opened.push(dist);
    const inbox = new SqliteInboxStore(join(dataDir, "inbox.db"), config.inbox, {
      ...dbOptions,
      maxCachedInboxes: config.maxCachedInboxes,
    });
    opened.push(inbox);
    const retain = new SqliteRetainStore(join(dataDir, "retain.db"), {
      ...dbOptions,
      ...config.retain,
    });
    opened.push(retain);
    const sessions = new LocalSessionRegistry({
      firstIncarnation: config.firstSessionIncarnation,
    });
    opened.push(sessions);
    let closing: Promise<void> | null = null;
    return {
      dist,
      inbox,
      retain,
      sessions,
      close: () => closing ??= closeAll(opened),
    };
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

async function closeAll(stores: readonly { close(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(stores.map((s) => s.close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}
