/**
 * System variables: lower-case environment variables (as in the seed, e.g.
 * `inbox_store_range_voter_count`) for tunables that operators set per
 * deployment rather than per file. A malformed or out-of-range value stops
 * start-up with a message naming the variable; nothing falls back silently.
 *
 * @module
 */
import { ConfigError, type IntSpec } from "./schemaSpec.ts";

/** Every system variable, its default, bounds and meaning. */
export const systemVariableSpecs = {
  dist_worker_range_voter_count: {
    kind: "int",
    default: 3,
    min: 1,
    max: 9,
    doc: "Voters per dist (subscription route) range. At least 3, preferably odd, for HA.",
  },
  inbox_store_range_voter_count: {
    kind: "int",
    default: 1,
    min: 1,
    max: 9,
    doc:
      "Voters per inbox (persistent session) range. Default 1 as in the seed; HA deployments set 3 (each offline-message write then waits for a Raft majority). A node in a cluster of 3+ warns when it is 1.",
  },
  retain_store_range_voter_count: {
    kind: "int",
    default: 3,
    min: 1,
    max: 9,
    doc: "Voters per retain (retained message) range. At least 3, preferably odd, for HA.",
  },
  store_shutdown_timeout_ms: {
    kind: "int",
    default: 10000,
    min: 100,
    max: 600000,
    doc:
      "How long a graceful shutdown (SIGTERM/SIGINT) waits for clients to be told and stores to flush before exiting anyway.",
  },
} as const satisfies Record<string, IntSpec>;

/** Names of the system variables. */
export type SystemVariableName = keyof typeof systemVariableSpecs;

/** Validated system variables. */
export type SystemVariables = { [K in SystemVariableName]: number };

/**
 * Reads the system variables from `env` (a plain map, e.g. Deno.env.toObject()).
 * Throws ConfigError naming the variable on a malformed or out-of-range value.
 */
export function readSystemVariables(env: Record<string, string | undefined>): SystemVariables {
  const out: Partial<SystemVariables> = {};
  for (const [name, spec] of Object.entries(systemVariableSpecs)) {
    const raw = env[name];
    let value: number = spec.default;
    if (raw !== undefined) {
      const trimmed = raw.trim();
      if (!/^-?\d+$/.test(trimmed)) {
        throw new ConfigError(
          `environment variable ${name}`,
          `expected an integer, got ${JSON.stringify(raw)}`,
        );
      }
      value = Number(trimmed);
      if (value < spec.min || value > spec.max) {
        throw new ConfigError(
          `environment variable ${name}`,
          `${value} is out of range [${spec.min}, ${spec.max}]`,
        );
      }
    }
    out[name as SystemVariableName] = value;
  }
  return out as SystemVariables;
}
