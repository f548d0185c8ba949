/**
 * The dist state machine: SQLite schema and the deterministic commands that
 * change it. `DistStateMachine.apply` is what base-kv replicates later; the
 * local store runs it through a {@link BatchWriter}.
 *
 * @module
 */
import type { DatabaseSync, SQLOutputValue, StatementSync } from "node:sqlite";
import { StoreCorruptError, textColumn } from "../sqlite/database.ts";
import { isQoS, isRetainHandling } from "../qos.ts";
import type { Route, RouteKey, RouteRemoval } from "./distStore.ts";
import { parseSharedFilter, topicFilterError } from "./topicValidation.ts";

/** A write to the routes table, as plain data. */
export type DistCommand =
  | { readonly op: "addRoutes"; readonly routes: readonly Route[] }
  | { readonly op: "removeRoutes"; readonly removals: readonly RouteRemoval[] }
  | { readonly op: "removeTransientRoutesOfNode"; readonly nodeId: string };

/** What a command changed: the in-memory index applies exactly this after commit. */
export interface DistCommandResult {
  /** Routes stored (new or replaced). */
  readonly upserted: readonly Route[];
  /** Keys removed. */
  readonly removed: readonly RouteKey[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS routes (
  tenant TEXT NOT NULL,
  share_group TEXT NOT NULL,      -- '' for a normal subscription
  filter TEXT NOT NULL,
  receiver_id TEXT NOT NULL,
  incarnation INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL,
  retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL,
  subscription_id INTEGER,
  PRIMARY KEY (tenant, share_group, filter, receiver_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS routes_by_receiver ON routes (receiver_id);
`;

/** Key columns as read back: NUL-safe (receiver ids of inboxes contain U+0000). */
const KEY_COLUMNS = "CAST(tenant AS BLOB) AS tenant, CAST(share_group AS BLOB) AS share_group, " +
  "CAST(filter AS BLOB) AS filter, CAST(receiver_id AS BLOB) AS receiver_id";

/** Throws a RangeError saying what is wrong with `route`, if anything. */
export function validateRoute(route: Route): void {
  const where = `route ${JSON.stringify(route.receiverId)} -> ${JSON.stringify(route.filter)}`;
  if (typeof route.tenant !== "string") throw new RangeError(`${where}: tenant is not a string`);
  const fe = topicFilterError(route.filter);
  if (fe !== null) throw new RangeError(`${where}: ${fe}`);
  if (route.filter.startsWith("$share/")) {
    throw new RangeError(`${where}: pass the filter without its $share/{group}/ prefix`);
  }
  if (route.shareGroup !== null) {
    const parsed = parseSharedFilter(`$share/${route.shareGroup}/${route.filter}`);
    if (!parsed.ok || parsed.group !== route.shareGroup) {
      throw new RangeError(`${where}: invalid share group ${JSON.stringify(route.shareGroup)}`);
    }
  }
  if (typeof route.receiverId !== "string" || route.receiverId.length === 0) {
    throw new RangeError(`${where}: empty receiverId`);
  }
  if (!Number.isSafeInteger(route.incarnation) || route.incarnation < 0) {
    throw new RangeError(
      `${where}: incarnation ${route.incarnation} is not a non-negative integer`,
    );
  }
  const o = route.options;
  if (o.qos !== 0 && o.qos !== 1 && o.qos !== 2) throw new RangeError(`${where}: qos ${o.qos}`);
  if (o.retainHandling !== 0 && o.retainHandling !== 1 && o.retainHandling !== 2) {
    throw new RangeError(`${where}: retainHandling ${o.retainHandling}`);
  }
  if (
    o.subscriptionId !== null &&
    (!Number.isInteger(o.subscriptionId) || o.subscriptionId < 1 || o.subscriptionId > 268435455)
  ) {
    throw new RangeError(`${where}: subscriptionId ${o.subscriptionId} not in 1..268435455`);
  }
}

function int(path: string, row: Record<string, SQLOutputValue>, col: string): number {
  const v = row[col];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new StoreCorruptError(path, `routes.${col} is ${String(v)}, not an integer`);
  }
  return v;
}

function str(path: string, row: Record<string, SQLOutputValue>, col: string): string {
  return textColumn(path, row, col, "routes");
}

function rowToRoute(path: string, row: Record<string, SQLOutputValue>): Route {
  const qos = int(path, row, "qos");
  const rh = int(path, row, "retain_handling");
  if (!isQoS(qos) || !isRetainHandling(rh)) {
    throw new StoreCorruptError(path, `routes row has qos=${qos} retain_handling=${rh}`);
  }
  const sid = row["subscription_id"];
  if (sid !== null && (typeof sid !== "number" || !Number.isInteger(sid))) {
    throw new StoreCorruptError(path, `routes.subscription_id is ${String(sid)}`);
  }
  const group = str(path, row, "share_group");
  return {
    tenant: str(path, row, "tenant"),
    shareGroup: group === "" ? null : group,
    filter: str(path, row, "filter"),
    receiverId: str(path, row, "receiver_id"),
    incarnation: int(path, row, "incarnation"),
    options: {
      qos,
      noLocal: int(path, row, "no_local") !== 0,
      retainAsPublished: int(path, row, "retain_as_published") !== 0,
      retainHandling: rh,
      subscriptionId: sid,
    },
  };
}

/** Deterministic application of {@link DistCommand}s to one SQLite database. */
export class DistStateMachine {
  readonly #path: string;
  readonly #db: DatabaseSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteByReceiverRange: StatementSync;

  /** Creates the schema if absent. `path` names the file in error messages. */
  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
    db.exec(SCHEMA);
    this.#upsert = db.prepare(
      `INSERT INTO routes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, share_group, filter, receiver_id) DO UPDATE SET
         incarnation = excluded.incarnation, qos = excluded.qos, no_local = excluded.no_local,
         retain_as_published = excluded.retain_as_published,
         retain_handling = excluded.retain_handling, subscription_id = excluded.subscription_id
       WHERE excluded.incarnation >= routes.incarnation`,
    );
    this.#delete = db.prepare(
      `DELETE FROM routes WHERE tenant = ? AND share_group = ? AND filter = ? AND receiver_id = ?
       AND incarnation <= ?`,
    );
    // Receivers of a node are `s:<nodeId>:<sessionId>` where the session id has no ':'
    // (node ids may: "host:port"). Range on the prefix, then "no ':' after it".
    this.#deleteByReceiverRange = db.prepare(
      `DELETE FROM routes WHERE receiver_id >= ? AND receiver_id < ?
         AND instr(substr(receiver_id, ?), ':') = 0
       RETURNING ${KEY_COLUMNS}`,
    );
  }

  /** Every stored route (for rebuilding the index on open). */
  loadAll(): Route[] {
    const rows = this.#db.prepare(
      `SELECT ${KEY_COLUMNS}, incarnation, qos, no_local, retain_as_published, retain_handling,
         subscription_id FROM routes`,
    ).all();
    return rows.map((r) => rowToRoute(this.#path, r));
  }

  /** Applies one command; throws (changing nothing) on invalid input. */
  apply(cmd: DistCommand): DistCommandResult {
    switch (cmd.op) {
      case "addRoutes": {
        for (const r of cmd.routes) validateRoute(r);
        const upserted: Route[] = [];
        for (const r of cmd.routes) {
          const o = r.options;
          const { changes } = this.#upsert.run(
            r.tenant,
            r.shareGroup ?? "",
            r.filter,
            r.receiverId,
            r.incarnation,
            o.qos,
            o.noLocal ? 1 : 0,
            o.retainAsPublished ? 1 : 0,
            o.retainHandling,
            o.subscriptionId,
          );
          if (Number(changes) > 0) upserted.push(r);
        }
        return { upserted, removed: [] };
      }
      case "removeRoutes": {
        const removed: RouteKey[] = [];
        for (const k of cmd.removals) {
          const { changes } = this.#delete.run(
            k.tenant,
            k.shareGroup ?? "",
            k.filter,
            k.receiverId,
            k.incarnation,
          );
          if (Number(changes) > 0) {
            removed.push({
              tenant: k.tenant,
              shareGroup: k.shareGroup,
              filter: k.filter,
              receiverId: k.receiverId,
            });
          }
        }
        return { upserted: [], removed };
      }
      case "removeTransientRoutesOfNode": {
        if (cmd.nodeId.length === 0) throw new RangeError("nodeId is empty");
        const prefix = `s:${cmd.nodeId}:`;
        // ';' is the code point after ':', so [prefix, prefixEnd) holds every id with the prefix.
        const rows = this.#deleteByReceiverRange.all(
          prefix,
          `s:${cmd.nodeId};`,
          prefix.length + 1,
        );
        const removed = rows.map((row): RouteKey => {
          const group = str(this.#path, row, "share_group");
          return {
            tenant: str(this.#path, row, "tenant"),
            shareGroup: group === "" ? null : group,
            filter: str(this.#path, row, "filter"),
            receiverId: str(this.#path, row, "receiver_id"),
          };
        });
        return { upserted: [], removed };
      }
    }
  }
}
