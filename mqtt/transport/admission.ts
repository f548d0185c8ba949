/**
 * Per-listener connection bookkeeping that needs no per-connection timer:
 * admission (maximum open connections, maximum accepts per second) and one
 * shared sweeping interval for connect timeouts and end() lingering.
 *
 * @module
 */

import type { Logger } from "../../log/jsonLog.ts";
import type { ListenerKind, TransportLimits } from "./types.ts";

/** Why a connection was refused at accept. */
export type RejectReason = "max-connections" | "max-connects-per-second" | "listener-closing";

/** Minimum interval between two `conn.rejected` log lines of one listener. */
const REJECT_LOG_INTERVAL_MS = 1000;

/**
 * Decides whether an accepted socket may stay. Excess sockets are closed at
 * once by the caller; rejections are counted and logged at most once per
 * second (`conn.rejected` with `suppressed` = rejections not logged since).
 */
export class AdmissionControl {
  /** Sockets admitted and not yet released. */
  open = 0;
  /** Sockets admitted since start. */
  accepted = 0;
  /** Sockets rejected since start, by reason. */
  readonly rejected: Record<RejectReason, number> = {
    "max-connections": 0,
    "max-connects-per-second": 0,
    "listener-closing": 0,
  };
  readonly #limits: TransportLimits;
  readonly #log: Logger;
  readonly #kind: ListenerKind;
  #windowStartMs = 0;
  #windowAccepts = 0;
  #lastLogMs = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(kind: ListenerKind, limits: TransportLimits, log: Logger) {
    this.#kind = kind;
    this.#limits = limits;
    this.#log = log;
  }

  /** Admits (and counts) a socket, or returns why not (the caller then calls {@link reject}). */
  tryAdmit(nowMs: number): RejectReason | null {
    if (nowMs - this.#windowStartMs >= 1000) {
      this.#windowStartMs = nowMs;
      this.#windowAccepts = 0;
    }
    let reason: RejectReason | null = null;
    if (this.open >= this.#limits.maxConnections) reason = "max-connections";
    else if (this.#windowAccepts >= this.#limits.maxConnectsPerSecond) {
      reason = "max-connects-per-second";
    }
    if (reason === null) {
      this.open++;
      this.accepted++;
      this.#windowAccepts++;
    }
    return reason;
  }

  /**
   * Counts and (rate-limited) logs a rejection. The address is asked for only
   * when a line is written: during a flood most rejections are not logged.
   */
  reject(reason: RejectReason, remoteAddress: () => string, nowMs: number): void {
    this.rejected[reason]++;
    if (nowMs - this.#lastLogMs < REJECT_LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#lastLogMs = nowMs;
    this.#log.warn("conn.rejected", {
      listener: this.#kind,
      reason,
      remoteAddress: remoteAddress(),
      open: this.open,
      suppressed: this.#suppressed,
    });
    this.#suppressed = 0;
  }

  /** An admitted socket closed. */
  release(): void {
    if (this.open > 0) this.open--;
  }
}

/**
 * Deadlines with one uniform duration, expired in insertion order by one
 * shared interval that runs only while entries exist. Because every entry
 * has the same duration, insertion order is deadline order and a sweep stops
 * at the first entry not yet due: O(expired) per tick. An entry fires between
 * `durationMs` and `durationMs + tickMs` after insertion.
 */
export class DeadlineQueue<K> {
  readonly #entries = new Map<K, { startMs: number; onExpire: () => void }>();
  readonly #durationMs: number;
  readonly #tickMs: number;
  readonly #nowMs: () => number;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(durationMs: number, nowMs: () => number) {
    this.#durationMs = durationMs;
    this.#tickMs = Math.min(1000, Math.max(10, Math.floor(durationMs / 10)));
    this.#nowMs = nowMs;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds `key`, due `durationMs` after `startMs`. */
  add(key: K, startMs: number, onExpire: () => void): void {
    this.#entries.set(key, { startMs, onExpire });
    if (this.#timer === null) this.#timer = setInterval(() => this.sweep(), this.#tickMs);
  }

  /** Replaces what happens at expiry, keeping the deadline. No-op if absent. */
  retarget(key: K, onExpire: () => void): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) entry.onExpire = onExpire;
  }

  /** Removes `key` if present. The interval stops at its next tick when nothing is left, so connection churn does not start and stop a timer per connection. */
  delete(key: K): void {
    this.#entries.delete(key);
  }

  /** Fires due entries (called by the interval; public for tests). */
  sweep(): void {
    const now = this.#nowMs();
    for (const [key, entry] of this.#entries) {
      if (now - entry.startMs < this.#durationMs) break;
      this.#entries.delete(key);
      entry.onExpire();
    }
    if (this.#entries.size === 0) this.#stopTimer();
  }

  /** Drops all entries and the interval. */
  clear(): void {
    this.#entries.clear();
    this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
