/**
 * The contract between the bench driver (`main.ts`) and the load generator
 * process (`loadgen.ts`): the spec passed as argv, the result printed on stdout.
 *
 * @module
 */

/** Scenarios the load generator runs. */
export const GEN_SCENARIOS = [
  "fanin",
  "fanout",
  "qos1",
  "paced",
  "persistent",
  "idle",
  "connects",
  "overload",
] as const;

/** One load-generator scenario. */
export type GenScenario = typeof GEN_SCENARIOS[number];

/** What the driver asks the generator to do (JSON in argv[0]). */
export interface GenSpec {
  /** Scenario to run. */
  readonly scenario: GenScenario;
  /** Broker TCP port on 127.0.0.1. */
  readonly port: number;
  /** Broker PID, for CPU (/proc/PID/stat) and RSS (/proc/PID/status) readings. */
  readonly brokerPid: number;
  /** Measured duration of load phases in ms (warm-up comes on top for some). */
  readonly durationMs: number;
}

/** What the generator reports (one line on stdout, after {@link RESULT_PREFIX}). */
export interface GenResult {
  /** The scenario that ran. */
  readonly scenario: GenScenario;
  /** Scenario figures, e.g. `msgPerSec`, `p99Ms`, `bytesPerConn`. */
  readonly metrics: Record<string, number>;
  /** Generator CPU during the measured phase, as a share of one core (1 = saturated). */
  readonly genCoreShare: number;
  /** Broker CPU during the measured phase, as a share of one core. */
  readonly brokerCoreShare: number;
  /** Share of the broker's core used by other processes during the measured phase. */
  readonly brokerCoreOtherShare: number;
  /** Share of the generator's core used by other processes during the measured phase. */
  readonly genCoreOtherShare: number;
  /** Messages sent (or acknowledged) but never received. */
  readonly lost: number;
  /** Messages received more than once or out of order. */
  readonly duplicates: number;
  /** Anything a reader of the table should know (stalls, errors, caps hit). */
  readonly notes: string[];
}

/** Prefix of the result line on the generator's stdout. */
export const RESULT_PREFIX = "BENCH_RESULT ";

/** Type guard for a parsed {@link GenResult}. */
export function isGenResult(v: unknown): v is GenResult {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.scenario === "string" && typeof r.metrics === "object" &&
    r.metrics !== null && typeof r.genCoreShare === "number" &&
    typeof r.brokerCoreShare === "number" && typeof r.brokerCoreOtherShare === "number" &&
    typeof r.genCoreOtherShare === "number" && typeof r.lost === "number" &&
    typeof r.duplicates === "number" && Array.isArray(r.notes);
}
