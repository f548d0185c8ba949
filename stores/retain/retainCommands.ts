/**
 * The retain state machine: SQLite schema and deterministic commands (time
 * comes from the command: a message's `receivedAtMs`, or `nowMs`). What
 * base-kv replicates later; the local store runs it through a BatchWriter.
 *
 * @module
 */
import type { DatabaseSync, SQLOutputValue, StatementSync } from "node:sqlite";
import type { StoredMessage } from "../message.ts";
import { decodeStoredMessage, encodeStoredMessage } from "../messageCodec.ts";
import { StoreCorruptError, textColumn } from "../sqlite/database.ts";
import type { RetainSetResult } from "./retainStore.ts";
import { checkRetainedMessage, type RetainLimits } from "./retainRules.ts";

/** A write to the retained-messages table, as plain data. */
export type RetainCommand =
  | { readonly op: "set"; readonly message: StoredMessage }
  | { readonly op: "purgeExpired"; readonly nowMs: number; readonly limit: number };

/** A topic whose retained message exists, as the in-memory index keeps it. */
export interface RetainedRef {
  /** Tenant of the retained topic. */
  readonly tenant: string;
  /** The retained topic. */
  readonly topic: string;
  /** Expiry of the retained message (ms since epoch), or null. */
  readonly expiresAtMs: number | null;
}

/** What a command did; the index applies `stored` and `removed` after commit. */
export interface RetainCommandResult {
  /** What the command did. */
  readonly outcome: RetainSetResult | "purged";
  /** Topics stored (new or replaced). */
  readonly stored: readonly RetainedRef[];
  /** Topics deleted. */
  readonly removed: readonly { readonly tenant: string; readonly topic: string }[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS retained (
  tenant TEXT NOT NULL,
  topic TEXT NOT NULL,
  expires_at_ms INTEGER,
  message BLOB NOT NULL              -- msgpack, see messageCodec.ts
);
CREATE UNIQUE INDEX IF NOT EXISTS retained_by_topic ON retained (tenant, topic);
CREATE INDEX IF NOT EXISTS retained_by_expiry ON retained (expires_at_ms, tenant)
  WHERE expires_at_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS retained_by_tenant_expiry ON retained (tenant, expires_at_ms)
  WHERE expires_at_ms IS NOT NULL;
`;

/** Deterministic application of {@link RetainCommand}s to one SQLite database. */
export class RetainStateMachine {
  readonly #path: string;
  readonly #limits: RetainLimits;
  readonly #db: DatabaseSync;
  /** Retained topics per tenant (derived; reloaded after a rollback). */
  #counts: Map<string, number> | null = null;
  readonly #has: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #purgeTenant: StatementSync;
  readonly #purgeAll: StatementSync;
  readonly #get: StatementSync;

  /** Creates the schema if absent. `path` names the file in error messages. */
  constructor(db: DatabaseSync, path: string, limits: RetainLimits) {
    this.#db = db;
    this.#path = path;
    this.#limits = limits;
    db.exec(SCHEMA);
    this.#has = db.prepare("SELECT 1 AS x FROM retained WHERE tenant = ? AND topic = ?");
    this.#upsert = db.prepare(
      `INSERT INTO retained (tenant, topic, expires_at_ms, message) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant, topic) DO UPDATE SET
         expires_at_ms = excluded.expires_at_ms, message = excluded.message`,
    );
    this.#delete = db.prepare("DELETE FROM retained WHERE tenant = ? AND topic = ?");
    this.#purgeTenant = db.prepare(
      `DELETE FROM retained WHERE tenant = ? AND expires_at_ms IS NOT NULL AND expires_at_ms <= ?
       RETURNING CAST(tenant AS BLOB) AS tenant, topic`,
    );
    this.#purgeAll = db.prepare(
      `DELETE FROM retained WHERE rowid IN (SELECT rowid FROM retained
         WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?)
       RETURNING CAST(tenant AS BLOB) AS tenant, topic`,
    );
    this.#get = db.prepare("SELECT message FROM retained WHERE tenant = ? AND topic = ?");
  }

  /** Drops derived state after a rollback. */
  invalidateCaches(): void {
    this.#counts = null;
  }

  #countsMap(): Map<string, number> {
    if (this.#counts === null) {
      const m = new Map<string, number>();
      for (
        const r of this.#db.prepare(
          "SELECT CAST(tenant AS BLOB) AS tenant, count(*) AS n FROM retained GROUP BY tenant",
        )
          .all()
      ) {
        const tenant = textColumn(this.#path, r, "tenant", "retained");
        const n = r["n"];
        if (typeof n !== "number") throw new StoreCorruptError(this.#path, "retained count");
        m.set(tenant, n);
      }
      this.#counts = m;
    }
    return this.#counts;
  }

  #adjust(tenant: string, delta: number): void {
    const m = this.#countsMap();
    const n = (m.get(tenant) ?? 0) + delta;
    if (n === 0) m.delete(tenant);
    else m.set(tenant, n);
  }

  #keys(rows: Record<string, SQLOutputValue>[]): { tenant: string; topic: string }[] {
    return rows.map((r) => {
      const tenant = textColumn(this.#path, r, "tenant", "retained");
      const topic = textColumn(this.#path, r, "topic", "retained");
      return { tenant, topic };
    });
  }

  /** Every retained topic (for building the index on open). */
  loadRefs(): RetainedRef[] {
    const rows = this.#db.prepare(
      "SELECT CAST(tenant AS BLOB) AS tenant, topic, expires_at_ms FROM retained",
    ).all();
    return rows.map((r) => {
      const tenant = textColumn(this.#path, r, "tenant", "retained");
      const topic = textColumn(this.#path, r, "topic", "retained");
      const exp = r["expires_at_ms"];
      if (exp !== null && (typeof exp !== "number" || !Number.isSafeInteger(exp))) {
        throw new StoreCorruptError(
          this.#path,
          `retained ${topic}: expires_at_ms is ${String(exp)}`,
        );
      }
      return { tenant, topic, expiresAtMs: exp };
    });
  }

  /** Reads one retained message (null if absent); a bad row is a StoreCorruptError. */
  read(tenant: string, topic: string): StoredMessage | null {
    const row = this.#get.get(tenant, topic);
    if (row === undefined) return null;
    const blob = row["message"];
    try {
      if (!(blob instanceof Uint8Array)) throw new Error("message is not a blob");
      return decodeStoredMessage(blob);
    } catch (err) {
      throw new StoreCorruptError(
        this.#path,
        `retained message of ${JSON.stringify(topic)} (tenant ${JSON.stringify(tenant)}): ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
  }

  /** Applies one command; throws (changing nothing) on invalid input. */
  apply(cmd: RetainCommand): RetainCommandResult {
    switch (cmd.op) {
      case "set": {
        const m = cmd.message;
        checkRetainedMessage(m);
        const exists = this.#has.get(m.tenant, m.topic) !== undefined;
        if (m.payload.length === 0) {
          if (exists) {
            this.#delete.run(m.tenant, m.topic);
            this.#adjust(m.tenant, -1);
          }
          return {
            outcome: "deleted",
            stored: [],
            removed: exists ? [{ tenant: m.tenant, topic: m.topic }] : [],
          };
        }
        let removed: { tenant: string; topic: string }[] = [];
        if (
          !exists && (this.#countsMap().get(m.tenant) ?? 0) >= this.#limits.maxRetainedPerTenant
        ) {
          // At the limit: make room from what expired by this message's arrival.
          removed = this.#keys(this.#purgeTenant.all(m.tenant, m.receivedAtMs));
          this.#adjust(m.tenant, -removed.length);
          if ((this.#countsMap().get(m.tenant) ?? 0) >= this.#limits.maxRetainedPerTenant) {
            return { outcome: "rejected-limit", stored: [], removed };
          }
        }
        this.#upsert.run(m.tenant, m.topic, m.expiresAtMs, encodeStoredMessage(m));
        if (!exists) this.#adjust(m.tenant, 1);
        return {
          outcome: exists ? "replaced" : "stored",
          stored: [{ tenant: m.tenant, topic: m.topic, expiresAtMs: m.expiresAtMs }],
          removed,
        };
      }
      case "purgeExpired": {
        if (!Number.isSafeInteger(cmd.limit) || cmd.limit < 0) {
          throw new RangeError(`purge limit must be a non-negative integer, got ${cmd.limit}`);
        }
        const removed = this.#keys(this.#purgeAll.all(cmd.nowMs, cmd.limit));
        for (const k of removed) this.#adjust(k.tenant, -1);
        return { outcome: "purged", stored: [], removed };
      }
    }
  }
}
