/**
 * The inbox tables: schema and prepared statements. Kept apart from the state
 * machine (inboxCommands.ts) so that a schema change and a semantics change
 * are separate edits.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Schema of the inbox tables (idempotent). */
export const INBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox_counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox_meta (
  tenant TEXT NOT NULL,
  client_id TEXT NOT NULL,
  incarnation INTEGER NOT NULL,
  session_expiry_s INTEGER NOT NULL,
  expires_at_ms INTEGER,            -- while detached; NULL while attached or never expiring
  created_at_ms INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,        -- lastSeq = max(last_seq, max(seq) of its messages)
  PRIMARY KEY (tenant, client_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_meta_by_expiry ON inbox_meta (expires_at_ms)
  WHERE expires_at_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS inbox_subscriptions (
  tenant TEXT NOT NULL,
  client_id TEXT NOT NULL,
  filter TEXT NOT NULL,
  qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL,
  retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL,
  subscription_id INTEGER,
  PRIMARY KEY (tenant, client_id, filter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox_messages (
  tenant TEXT NOT NULL,
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state INTEGER NOT NULL,           -- 0 queued, 1 released
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids BLOB,            -- msgpack array, NULL when empty
  expires_at_ms INTEGER,            -- copy of the message's, to skip expired rows unread
  message BLOB NOT NULL             -- msgpack, see messageCodec.ts
);
-- A rowid table, not WITHOUT ROWID: a batch appends one message to each of many
-- inboxes; appending by rowid keeps the (large) rows on few pages and only the
-- small index entries land at scattered places (3-10x faster commits, measured).
CREATE UNIQUE INDEX IF NOT EXISTS inbox_messages_by_key ON inbox_messages (tenant, client_id, seq);
CREATE TABLE IF NOT EXISTS inbox_incoming_qos2 (
  tenant TEXT NOT NULL,
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (tenant, client_id, packet_id)
) WITHOUT ROWID;
`;

/** Prepared statements over the inbox tables; `k` columns are (tenant, client_id). */
export interface InboxStatements {
  readonly counterGet: StatementSync;
  readonly counterSet: StatementSync;
  readonly metaGet: StatementSync;
  readonly metaCount: StatementSync;
  readonly metaPut: StatementSync;
  readonly metaExpiry: StatementSync;
  readonly metaLastSeq: StatementSync;
  readonly metaDelete: StatementSync;
  readonly expired: StatementSync;
  readonly subsGet: StatementSync;
  readonly subsCount: StatementSync;
  readonly subHas: StatementSync;
  readonly subPut: StatementSync;
  readonly subDelete: StatementSync;
  readonly subsDelete: StatementSync;
  readonly msgInsert: StatementSync;
  readonly msgOldest: StatementSync;
  readonly msgDelete: StatementSync;
  readonly msgDeleteRange: StatementSync;
  readonly msgsDelete: StatementSync;
  readonly msgPurgeExpired: StatementSync;
  readonly msgRead: StatementSync;
  readonly msgRelease: StatementSync;
  readonly q2Add: StatementSync;
  readonly q2Has: StatementSync;
  readonly q2Count: StatementSync;
  readonly q2Delete: StatementSync;
  readonly q2DeleteAll: StatementSync;
  readonly q2List: StatementSync;
}

/** Creates the tables if absent and prepares the statements. */
export function createInboxTables(db: DatabaseSync): InboxStatements {
  db.exec(INBOX_SCHEMA);
  const k = "tenant = ? AND client_id = ?";
  const p = (sql: string) => db.prepare(sql);
  return {
    counterGet: p("SELECT value FROM inbox_counters WHERE name = 'incarnation'"),
    counterSet: p("INSERT OR REPLACE INTO inbox_counters VALUES ('incarnation', ?)"),
    metaGet: p(
      `SELECT incarnation, session_expiry_s, expires_at_ms, created_at_ms, last_seq
       FROM inbox_meta WHERE ${k}`,
    ),
    metaCount: p(`SELECT count(*) AS n, max(seq) AS m FROM inbox_messages WHERE ${k}`),
    metaPut: p("INSERT OR REPLACE INTO inbox_meta VALUES (?, ?, ?, ?, ?, ?, ?)"),
    metaExpiry: p(
      `UPDATE inbox_meta SET session_expiry_s = ?, expires_at_ms = ? WHERE ${k}`,
    ),
    metaLastSeq: p(`UPDATE inbox_meta SET last_seq = ? WHERE ${k}`),
    metaDelete: p(`DELETE FROM inbox_meta WHERE ${k}`),
    expired: p(
      `SELECT CAST(tenant AS BLOB) AS tenant, CAST(client_id AS BLOB) AS client_id, incarnation
       FROM inbox_meta
       WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?
       ORDER BY expires_at_ms, tenant, client_id LIMIT ?`,
    ),
    subsGet: p(`SELECT * FROM inbox_subscriptions WHERE ${k} ORDER BY filter`),
    subsCount: p(`SELECT count(*) AS n FROM inbox_subscriptions WHERE ${k}`),
    subHas: p(`SELECT 1 AS x FROM inbox_subscriptions WHERE ${k} AND filter = ?`),
    subPut: p("INSERT OR REPLACE INTO inbox_subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
    subDelete: p(`DELETE FROM inbox_subscriptions WHERE ${k} AND filter = ?`),
    subsDelete: p(`DELETE FROM inbox_subscriptions WHERE ${k}`),
    msgInsert: p(
      `INSERT INTO inbox_messages (tenant, client_id, seq, state, qos, retain, subscription_ids,
       expires_at_ms, message) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)`,
    ),
    msgOldest: p(`SELECT seq FROM inbox_messages WHERE ${k} ORDER BY seq LIMIT 1`),
    msgDelete: p(`DELETE FROM inbox_messages WHERE ${k} AND seq = ?`),
    msgDeleteRange: p(`DELETE FROM inbox_messages WHERE ${k} AND seq >= ? AND seq <= ?`),
    msgsDelete: p(`DELETE FROM inbox_messages WHERE ${k}`),
    msgPurgeExpired: p(
      `DELETE FROM inbox_messages WHERE ${k} AND state = 0 AND expires_at_ms <= ?`,
    ),
    msgRead: p(
      `SELECT seq, state, qos, retain, subscription_ids, expires_at_ms, message
       FROM inbox_messages WHERE ${k} AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    msgRelease: p(`UPDATE inbox_messages SET state = 1 WHERE ${k} AND seq = ?`),
    q2Add: p("INSERT OR IGNORE INTO inbox_incoming_qos2 VALUES (?, ?, ?)"),
    q2Has: p(`SELECT 1 AS x FROM inbox_incoming_qos2 WHERE ${k} AND packet_id = ?`),
    q2Count: p(`SELECT count(*) AS n FROM inbox_incoming_qos2 WHERE ${k}`),
    q2Delete: p(`DELETE FROM inbox_incoming_qos2 WHERE ${k} AND packet_id = ?`),
    q2DeleteAll: p(`DELETE FROM inbox_incoming_qos2 WHERE ${k}`),
    q2List: p(`SELECT packet_id FROM inbox_incoming_qos2 WHERE ${k} ORDER BY packet_id`),
  };
}
