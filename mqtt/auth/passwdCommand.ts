/**
 * `edgemq passwd`: manage the password file from the command line.
 *
 * ```
 * passwd [--tenant TENANT] [--iterations N] FILE USER   add or update USER
 * passwd --delete FILE USER                             remove USER
 * ```
 * The password comes from `io.readPassword()`; {@link readPasswordFromEnvOrStdin}
 * reads `EDGEMQ_PASSWORD`, else the first line of stdin (without echo on a
 * terminal). Exit codes: 0 done, 1 failed, 2 usage error.
 *
 * @module
 */

import type { Logger } from "../../log/jsonLog.ts";
import { addUser, removeUser } from "./passwordFile.ts";
import { DEFAULT_PBKDF2_ITERATIONS } from "./passwordHash.ts";

/** What the command needs from its environment. */
export interface PasswdIo {
  readPassword(): Promise<string>;
  /** Messages for the operator: a line printer, or a Logger (`passwd.*` events at info/error). */
  log: Logger | ((line: string) => void);
}

/** Usage text printed on a usage error. */
export const PASSWD_USAGE = "usage: passwd [--tenant TENANT] [--iterations N] FILE USER\n" +
  "       passwd --delete FILE USER\n" +
  "The password is read from EDGEMQ_PASSWORD or the first line of stdin.";

/** Runs the command; returns the process exit code. */
export async function runPasswdCommand(args: string[], io: PasswdIo): Promise<number> {
  const say = (event: string, line: string, isError: boolean): void => {
    if (typeof io.log === "function") io.log(line);
    else if (isError) io.log.error(event, { message: line });
    else io.log.info(event, { message: line });
  };
  const positional: string[] = [];
  let tenant: string | undefined;
  let iterations = DEFAULT_PBKDF2_ITERATIONS;
  let remove = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--delete") remove = true;
    else if (arg === "--tenant" || arg === "--iterations") {
      const value = args[++i];
      if (value === undefined) {
        say("passwd.usage", `${arg} needs a value\n${PASSWD_USAGE}`, true);
        return 2;
      }
      if (arg === "--tenant") tenant = value;
      else iterations = Number(value);
    } else if (arg.startsWith("--")) {
      say("passwd.usage", `unknown option ${arg}\n${PASSWD_USAGE}`, true);
      return 2;
    } else positional.push(arg);
  }
  if (positional.length !== 2) {
    say(
      "passwd.usage",
      `expected FILE and USER, got ${positional.length} argument(s)\n${PASSWD_USAGE}`,
      true,
    );
    return 2;
  }
  const [file, user] = positional;
  try {
    if (remove) {
      const removed = await removeUser(file, user);
      say(
        "passwd.removed",
        removed ? `removed ${user} from ${file}` : `${user} not in ${file}`,
        !removed,
      );
      return removed ? 0 : 1;
    }
    const password = await io.readPassword();
    await addUser(file, user, password, tenant, iterations);
    say("passwd.added", `set password of ${user} in ${file}`, false);
    return 0;
  } catch (error) {
    say(
      "passwd.failed",
      `passwd failed: ${error instanceof Error ? error.message : String(error)}`,
      true,
    );
    return 1;
  }
}

/** Maximum password length read from stdin (bytes). */
const MAX_PASSWORD_BYTES = 4096;

/**
 * `EDGEMQ_PASSWORD` if set, else the first line of stdin (prompting on stderr,
 * without echo, when stdin is a terminal).
 */
export async function readPasswordFromEnvOrStdin(): Promise<string> {
  const fromEnv = Deno.env.get("EDGEMQ_PASSWORD");
  if (fromEnv !== undefined) return fromEnv;
  const tty = Deno.stdin.isTerminal();
  if (tty) {
    await Deno.stderr.write(new TextEncoder().encode("Password: "));
    Deno.stdin.setRaw(true);
  }
  try {
    const bytes: number[] = [];
    const buf = new Uint8Array(256);
    while (bytes.length < MAX_PASSWORD_BYTES) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      const nl = chunk.findIndex((b) => b === 0x0a || b === 0x0d);
      bytes.push(...(nl >= 0 ? chunk.subarray(0, nl) : chunk));
      if (nl >= 0) break;
    }
    if (bytes.length >= MAX_PASSWORD_BYTES) {
      throw new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes`);
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  } finally {
    if (tty) {
      Deno.stdin.setRaw(false);
      await Deno.stderr.write(new TextEncoder().encode("\n"));
    }
  }
}
