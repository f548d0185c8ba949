/**
 * The password file: parsing, and adding / removing users atomically.
 *
 * Format, one entry per line; blank lines and lines starting with `#` are
 * ignored:
 *
 * ```
 * # name:hash[:tenant]
 * alice:$pbkdf2-sha512$10000$<salt b64>$<hash b64>
 * acme/bob:$pbkdf2-sha512$10000$<salt b64>$<hash b64>
 * carol:$pbkdf2-sha512$10000$<salt b64>$<hash b64>:globex
 * ```
 *
 * - `name` is what a client sends as its MQTT user name. It may carry its
 *   tenant as a prefix (`acme/bob`: tenant acme, user bob).
 * - the optional third field names the tenant of a plain name (`carol` is in
 *   tenant globex); a client may then log in as `carol` or `globex/carol`.
 * - without either, the tenant is "default".
 * - `hash` is the encoded PBKDF2 hash of passwordHash.ts.
 *
 * Names contain no ":" or white space and at most one "/"; tenants match
 * `[A-Za-z0-9_.-]{1,64}`. Names, and tenant/user pairs, are unique.
 *
 * @module
 */

import { DEFAULT_TENANT } from "./types.ts";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  parsePasswordHash,
  type PasswordHash,
} from "./passwordHash.ts";

/** One user of the password file. */
export interface PasswordEntry {
  /** The name as written in the file. */
  name: string;
  tenant: string;
  /** The user within its tenant (name without the tenant prefix). */
  user: string;
  /** The encoded hash, as written (compared to invalidate cached verifications). */
  hashText: string;
  hash: PasswordHash;
}

/** A parsed password file. */
export interface PasswordTable {
  /** By name as written. */
  byName: Map<string, PasswordEntry>;
  /** By `tenant/user`. */
  byTenantUser: Map<string, PasswordEntry>;
}

const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_NAME_CHARS = 256;

/** Splits a name into tenant and user; throws on an invalid name or tenant. */
export function resolveName(name: string, tenantField?: string): { tenant: string; user: string } {
  if (name.length === 0 || name.length > MAX_NAME_CHARS) {
    throw new Error(`user name must have 1..${MAX_NAME_CHARS} characters, got ${name.length}`);
  }
  if (/[:\s]/.test(name)) {
    throw new Error(`user name must not contain ":" or white space, got "${name}"`);
  }
  if (name.startsWith("#")) throw new Error(`user name must not start with "#", got "${name}"`);
  const parts = name.split("/");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw new Error(`user name must be "user" or "tenant/user", got "${name}"`);
  }
  if (tenantField !== undefined && !TENANT_PATTERN.test(tenantField)) {
    throw new Error(`tenant must match ${TENANT_PATTERN.source}, got "${tenantField}"`);
  }
  if (parts.length === 2) {
    const [tenant, user] = parts;
    if (!TENANT_PATTERN.test(tenant)) {
      throw new Error(`tenant prefix of "${name}" must match ${TENANT_PATTERN.source}`);
    }
    if (tenantField !== undefined && tenantField !== tenant) {
      throw new Error(
        `name "${name}" has tenant prefix "${tenant}" but tenant field "${tenantField}"`,
      );
    }
    return { tenant, user };
  }
  return { tenant: tenantField ?? DEFAULT_TENANT, user: name };
}

/** Parses password file text; errors name the file and line. */
export function parsePasswordFile(text: string, source = "password file"): PasswordTable {
  const table: PasswordTable = { byName: new Map(), byTenantUser: new Map() };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      const fields = line.split(":");
      if (fields.length < 2 || fields.length > 3) {
        throw new Error(`expected name:hash[:tenant], got ${fields.length} field(s)`);
      }
      const [name, hashText, tenantField] = fields;
      const { tenant, user } = resolveName(name, tenantField);
      const entry: PasswordEntry = {
        name,
        tenant,
        user,
        hashText,
        hash: parsePasswordHash(hashText),
      };
      const key = `${tenant}/${user}`;
      if (table.byName.has(name)) throw new Error(`duplicate user name "${name}"`);
      if (table.byTenantUser.has(key)) {
        throw new Error(`duplicate user "${user}" in tenant "${tenant}"`);
      }
      table.byName.set(name, entry);
      table.byTenantUser.set(key, entry);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`${source}:${i + 1}: ${reason}`);
    }
  }
  return table;
}

/** The entry a client's user name refers to, if any. */
export function lookupLogin(table: PasswordTable, login: string): PasswordEntry | undefined {
  return table.byName.get(login) ??
    (login.includes("/") ? table.byTenantUser.get(login) : undefined);
}

/** Reads and parses a password file. */
export async function loadPasswordFile(path: string): Promise<PasswordTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read password file ${path}: ${reason}`);
  }
  return parsePasswordFile(text, path);
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/** Writes via a temporary file and rename, mode 0600, so a reader never sees half a file. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

function nameOfLine(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return null;
  return trimmed.split(":")[0];
}

/**
 * Adds `user` (or replaces its hash and tenant), keeping the other lines and
 * comments. `user` may be `tenant/user`; `tenant` names the tenant of a plain
 * name. Creates the file (mode 0600) when missing.
 */
export async function addUser(
  file: string,
  user: string,
  password: string,
  tenant?: string,
  iterations: number = DEFAULT_PBKDF2_ITERATIONS,
): Promise<void> {
  resolveName(user, tenant);
  if (password.length === 0) throw new Error(`password for "${user}" must not be empty`);
  const hashText = await hashPassword(password, iterations);
  const entryLine = tenant !== undefined ? `${user}:${hashText}:${tenant}` : `${user}:${hashText}`;
  const text = await readOrEmpty(file);
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const at = lines.findIndex((l) => nameOfLine(l) === user);
  if (at >= 0) lines[at] = entryLine;
  else lines.push(entryLine);
  const next = lines.join("\n") + "\n";
  parsePasswordFile(next, file); // refuse to write a file we could not load
  await writeAtomically(file, next);
}

/** Removes `user`; returns false when it was not in the file. */
export async function removeUser(file: string, user: string): Promise<boolean> {
  const text = await readOrEmpty(file);
  const lines = text.replace(/\n$/, "").split("\n");
  const kept = lines.filter((l) => nameOfLine(l) !== user);
  if (kept.length === lines.length) return false;
  await writeAtomically(file, kept.length === 0 ? "" : kept.join("\n") + "\n");
  return true;
}
