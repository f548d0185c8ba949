/**
 * Authenticators: a password-file one and an anonymous one.
 *
 * The password-file authenticator
 * - resolves the tenant from the entry (see passwordFile.ts): a `tenant/user`
 *   name, the file's tenant field, else "default";
 * - verifies with PBKDF2 on a worker thread, at most
 *   `maxConcurrentVerifications` at a time, with at most
 *   `maxQueuedVerifications` waiting; beyond that it answers "server-busy"
 *   (bounded CPU under a CONNECT flood);
 * - verifies against a dummy hash for unknown users, so the answer time does
 *   not reveal which user names exist;
 * - caches successful verifications (bounded LRU, `cacheMaxEntries`), keyed by
 *   the entry and the SHA-256 of the password, and valid only while the
 *   entry's stored hash is unchanged; the whole cache is dropped on reload.
 *   Trade-off: a reconnect storm of known clients costs a SHA-256 instead of
 *   PBKDF2 (~7 ms at the default cost), but process memory then holds unsalted SHA-256 digests
 *   of recently used passwords. Set cacheMaxEntries to 0 to disable;
 * - reloads the file when its mtime, size or inode changed, checked at most every
 *   `reloadCheckIntervalMs` when a CONNECT arrives (no timer). A file that no
 *   longer parses is logged (`auth.reload-failed`) and the old table kept.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Logger } from "../../log/jsonLog.ts";
import { silentLogger } from "../../log/jsonLog.ts";
import { loadPasswordFile, lookupLogin, type PasswordTable } from "./passwordFile.ts";
import { DEFAULT_PBKDF2_ITERATIONS, type PasswordHash, verifyPassword } from "./passwordHash.ts";
import { type Authenticator, type AuthRequest, type AuthResult, DEFAULT_TENANT } from "./types.ts";

/** Accepts everyone into the default tenant (user = the given user name, or null). */
export function createAnonymousAuthenticator(): Authenticator {
  return {
    authenticate: (req) =>
      Promise.resolve({ ok: true, tenant: DEFAULT_TENANT, user: req.username }),
  };
}

/** Options of {@link createPasswordFileAuthenticator}; every field has a default. */
export interface PasswordFileAuthenticatorOptions {
  /** Let clients without a user name in, as tenant "default", user null. Default false. */
  allowAnonymous?: boolean;
  /** Minimum time between two checks of the file's mtime/size; 0 never reloads. Default 2000. */
  reloadCheckIntervalMs?: number;
  /** Cached successful verifications; 0 disables the cache. Default 10 000. */
  cacheMaxEntries?: number;
  /** PBKDF2 runs at once (each holds a worker thread and a core). Default: cores - 1, within 1..4, so the event loop keeps a core. */
  maxConcurrentVerifications?: number;
  /** Verifications waiting for a slot; beyond this "server-busy". Default 1000. */
  maxQueuedVerifications?: number;
  log?: Logger;
  nowMs?: () => number;
}

/** The password-file authenticator, with its reload hook and counters. */
export interface PasswordFileAuthenticator extends Authenticator {
  /** Reloads the file now; throws (keeping the old table) when it does not parse. */
  reload(): Promise<void>;
  /** Users in the loaded table. */
  readonly userCount: number;
  /** Cache hits and full verifications so far. */
  readonly stats: { cacheHits: number; verifications: number; busyRejections: number };
}

/**
 * A hash verified for unknown users, as costly as the file's first entry (no
 * password derives to it in practice; the result is ignored anyway).
 */
function dummyHashLike(table: PasswordTable): PasswordHash {
  const first = table.byName.values().next();
  return {
    iterations: first.done ? DEFAULT_PBKDF2_ITERATIONS : first.value.hash.iterations,
    salt: new Uint8Array(16).fill(7),
    hash: new Uint8Array(64).fill(9),
  };
}

/** Loads the password file (errors name file and line) and returns the authenticator. */
export async function createPasswordFileAuthenticator(
  path: string,
  options: PasswordFileAuthenticatorOptions = {},
): Promise<PasswordFileAuthenticator> {
  const allowAnonymous = options.allowAnonymous ?? false;
  const reloadCheckIntervalMs = options.reloadCheckIntervalMs ?? 2000;
  const cacheMaxEntries = options.cacheMaxEntries ?? 10_000;
  const maxConcurrent = options.maxConcurrentVerifications ??
    Math.max(1, Math.min(4, navigator.hardwareConcurrency - 1));
  const maxQueued = options.maxQueuedVerifications ?? 1000;
  const log = options.log ?? silentLogger;
  const nowMs = options.nowMs ?? Date.now;
  for (
    const [name, value] of Object.entries({
      reloadCheckIntervalMs,
      cacheMaxEntries,
      maxQueuedVerifications: maxQueued,
    })
  ) {
    if (!Number.isInteger(value) || value < 0) {
      throw new Error(`${name} must be an integer >= 0, got ${value}`);
    }
  }
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new Error(`maxConcurrentVerifications must be an integer >= 1, got ${maxConcurrent}`);
  }

  let table: PasswordTable = await loadPasswordFile(path);
  let dummyHash = dummyHashLike(table);
  let stamp = await fileStamp(path);
  let lastCheckMs = nowMs();
  let checking: Promise<void> | null = null;
  /** key → hashText of the entry when verified; Map order = LRU order. */
  const cache = new Map<string, string>();
  const stats = { cacheHits: 0, verifications: 0, busyRejections: 0 };
  let running = 0;
  const waiting: (() => void)[] = [];

  const reload = async (): Promise<void> => {
    const nextStamp = await fileStamp(path);
    const next = await loadPasswordFile(path);
    table = next;
    dummyHash = dummyHashLike(next);
    stamp = nextStamp;
    cache.clear();
    log.info("auth.reloaded", { path, users: next.byName.size });
  };

  const maybeReload = (): Promise<void> | null => {
    if (reloadCheckIntervalMs === 0 || checking !== null) return checking;
    const now = nowMs();
    if (now - lastCheckMs < reloadCheckIntervalMs) return null;
    lastCheckMs = now;
    checking = (async () => {
      try {
        const current = await fileStamp(path);
        if (current !== stamp) await reload();
      } catch (error) {
        log.error("auth.reload-failed", { path, error });
      } finally {
        checking = null;
      }
    })();
    return checking;
  };

  /** Runs one PBKDF2 within the concurrency bound; null when the queue is full. */
  const verifyBounded = async (
    password: Uint8Array,
    hash: PasswordHash,
  ): Promise<boolean | null> => {
    if (running >= maxConcurrent) {
      if (waiting.length >= maxQueued) return null;
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      stats.verifications++;
      return await verifyPassword(password, hash);
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next(); // hand our slot over
      else running--;
    }
  };

  const authenticate = async (req: AuthRequest): Promise<AuthResult> => {
    const pending = maybeReload();
    if (pending !== null) await pending;
    if (req.username === null) {
      return allowAnonymous
        ? { ok: true, tenant: DEFAULT_TENANT, user: null }
        : { ok: false, reason: "not-authorized" };
    }
    if (req.password === null) return { ok: false, reason: "bad-credentials" };
    const entry = lookupLogin(table, req.username);
    let cacheKey: string | null = null;
    if (entry !== undefined && cacheMaxEntries > 0) {
      cacheKey = `${entry.tenant}/${entry.user}\0${sha256(req.password)}`;
      const cached = cache.get(cacheKey);
      if (cached === entry.hashText) {
        cache.delete(cacheKey);
        cache.set(cacheKey, cached);
        stats.cacheHits++;
        return { ok: true, tenant: entry.tenant, user: entry.user };
      }
    }
    const ok = await verifyBounded(req.password, entry?.hash ?? dummyHash);
    if (ok === null) {
      stats.busyRejections++;
      log.warn("auth.busy", { remoteAddress: req.remoteAddress, queued: waiting.length });
      return { ok: false, reason: "server-busy" };
    }
    if (!ok || entry === undefined) return { ok: false, reason: "bad-credentials" };
    if (cacheKey !== null) {
      cache.set(cacheKey, entry.hashText);
      if (cache.size > cacheMaxEntries) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
    }
    return { ok: true, tenant: entry.tenant, user: entry.user };
  };

  return {
    authenticate,
    reload,
    get userCount() {
      return table.byName.size;
    },
    stats,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

async function fileStamp(path: string): Promise<string> {
  const info = await Deno.stat(path);
  // The inode changes on every atomic replace (addUser, most editors), even
  // within the same millisecond.
  return `${info.mtime?.getTime() ?? 0}:${info.size}:${info.ino ?? 0}`;
}
