/**
 * Load-generator process. The bench driver starts it pinned to core 1
 * (`taskset -c 1`) with a JSON {@link GenSpec} as the only argument; it runs one
 * scenario and prints one `BENCH_RESULT {json}` line on stdout.
 *
 * @module
 */
import { GEN_SCENARIOS, type GenResult, type GenSpec, RESULT_PREFIX } from "./gen_types.ts";
import { runFanIn, runFanOut, runQos1 } from "./gen_throughput.ts";
import { runPersistent } from "./gen_persistent.ts";
import { runConnects, runIdle } from "./gen_connections.ts";
import { runOverload } from "./gen_overload.ts";

/** Parse and validate the spec argument. */
export function parseSpec(arg: string | undefined): GenSpec {
  if (arg === undefined) throw new Error("usage: loadgen.ts '<json GenSpec>'");
  const v: unknown = JSON.parse(arg);
  if (typeof v !== "object" || v === null) throw new Error(`spec is not an object: ${arg}`);
  const r = v as Record<string, unknown>;
  const scenario = GEN_SCENARIOS.find((s) => s === r.scenario);
  if (scenario === undefined) throw new Error(`unknown scenario ${String(r.scenario)}`);
  for (const k of ["port", "brokerPid", "durationMs"] as const) {
    if (typeof r[k] !== "number" || !Number.isInteger(r[k]) || (r[k] as number) <= 0) {
      throw new Error(`spec.${k} must be a positive integer, got ${String(r[k])}`);
    }
  }
  return {
    scenario,
    port: r.port as number,
    brokerPid: r.brokerPid as number,
    durationMs: r.durationMs as number,
  };
}

/** Run the scenario named in the spec. */
export function runScenario(spec: GenSpec): Promise<GenResult> {
  switch (spec.scenario) {
    case "fanin":
      return runFanIn(spec);
    case "fanout":
      return runFanOut(spec);
    case "qos1":
      return runQos1(spec, false);
    case "paced":
      return runQos1(spec, true);
    case "persistent":
      return runPersistent(spec);
    case "idle":
      return runIdle(spec);
    case "connects":
      return runConnects(spec);
    case "overload":
      return runOverload(spec);
  }
}

if (import.meta.main) {
  const spec = parseSpec(Deno.args[0]);
  const result = await runScenario(spec);
  console.log(RESULT_PREFIX + JSON.stringify(result));
  // Sockets are closed by the scenario; exit without waiting for stray timers.
  Deno.exit(0);
}
