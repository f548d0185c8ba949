/**
 * Structured logging: one JSON object per line on stdout,
 * `{"ts","level","event",...fields}`. Every layer receives a {@link Logger}
 * by injection, so tests can capture or silence it.
 *
 * @module
 */

/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra fields of a log line; values must be JSON-serialisable. */
export type LogFields = Record<string, unknown>;

/** A structured logger. `event` is a short dotted name such as `member.dead`. */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

/** Options of {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Lines below this level are dropped. Default "info". */
  minLevel?: LogLevel;
  /** Where a finished line goes. Default: stdout. */
  write?: (line: string) => void;
  /** Clock for the `ts` field (ISO-8601). Default: Date.now. */
  nowMs?: () => number;
}

const encoder = new TextEncoder();

function writeStdout(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Creates a logger writing JSON lines. */
export function createJsonLogger(options: JsonLoggerOptions = {}, base: LogFields = {}): Logger {
  const minRank = LEVEL_RANK[options.minLevel ?? "info"];
  const write = options.write ?? writeStdout;
  const nowMs = options.nowMs ?? Date.now;
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < minRank) return;
    const line = { ts: new Date(nowMs()).toISOString(), level, event, ...base, ...fields };
    write(JSON.stringify(line, errorReplacer));
  };
  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
    with: (fields) => createJsonLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = createJsonLogger({ write: () => {} });

/** A logger that keeps lines in memory; `lines` holds the parsed objects. */
export function createMemoryLogger(): Logger & { lines: LogFields[] } {
  const lines: LogFields[] = [];
  const logger = createJsonLogger({
    minLevel: "debug",
    write: (line) => lines.push(JSON.parse(line) as LogFields),
  });
  return Object.assign(logger, { lines });
}
