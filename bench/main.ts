/**
 * `deno task bench`: edgemq against mosquitto, side by side, one table.
 *
 * For each run, scenario and broker: start a fresh broker pinned to core 0,
 * run the load generator (`loadgen.ts`) pinned to core 1, stop the broker.
 * Figures are medians over `--runs`. See bench/README.md for the method.
 *
 *   deno task bench [--only fanin,fanout,qos1,paced,persistent,idle,connects,startup,raft]
 *                   [--duration-ms 3000] [--runs 3] [--broker edgemq|mosquitto|both] [--json]
 *
 * @module
 */
import { waitForQuietCores } from "./procstat.ts";
import { formatRaftBench, type RaftBenchRow, runRaftBench } from "./raft_bench.ts";
import {
  BROKER_CORE,
  BROKER_KINDS,
  type BrokerKind,
  MOSQUITTO_PATH,
  mosquittoInstalled,
  type RunningBroker,
  startBroker,
  tail,
} from "./brokers.ts";
import {
  GEN_SCENARIOS,
  type GenResult,
  type GenScenario,
  type GenSpec,
  isGenResult,
  RESULT_PREFIX,
} from "./gen_types.ts";
import {
  type BrokerSamples,
  buildRows,
  emptySamples,
  renderTable,
  type Section,
} from "./report.ts";

/** All `--only` sections, in run order. */
export const SECTIONS: readonly Section[] = [...GEN_SCENARIOS, "startup", "raft"];

/** Core of the load generator (the broker has core 0). */
export const GENERATOR_CORE = 1;

/** Before each scenario, wait until both cores are below this busy share... */
export const QUIET_BUSY_SHARE = 0.2;
/** ...for at most this long, then run anyway (and say so). */
export const QUIET_MAX_WAIT_MS = 5_000;

/** ...or this long when the previous wait timed out. */
export const QUIET_RETRY_WAIT_MS = 1_000;
let lastWaitTimedOut = false;

/** Scenarios that ran while the machine was busy with other work. */
const noisy: string[] = [];

/** Share of a core used by others from which the report warns about interference. */
export const INTERFERENCE_SHARE = 0.15;

/** Parsed command line. */
export interface BenchOptions {
  /** Sections to run. */
  readonly only: Section[];
  /** Measured duration of each load phase, ms. */
  readonly durationMs: number;
  /** Runs per scenario; the table shows medians. */
  readonly runs: number;
  /** Brokers to measure. */
  readonly brokers: BrokerKind[];
  /** Print JSON instead of the table. */
  readonly json: boolean;
  /** A compiled edgemq binary to run instead of `deno run -A main.ts`. */
  readonly edgemqBinary?: string;
}

const USAGE = `Usage: deno task bench [options]
  --only LIST         comma-separated sections: ${SECTIONS.join(",")}
                      (default: all)
  --duration-ms N     measured duration per load phase (default 3000, 500..60000)
  --runs N            runs per scenario; the table shows the median (default 3, 1..20)
  --broker B          edgemq | mosquitto | both (default both; mosquitto when installed)
  --edgemq-binary F   run a compiled edgemq (deno task compile) instead of deno run -A main.ts
  --json              machine-readable output on stdout`;

/** Parse the command line; throws with a message naming the bad argument. */
export function parseOptions(args: readonly string[]): BenchOptions {
  let only: Section[] = [...SECTIONS];
  let durationMs = 3000;
  let runs = 3;
  let broker = "both";
  let json = false;
  let edgemqBinary: string | undefined;
  const intArg = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${name} must be an integer in ${min}..${max}, got ${v}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].includes("=") ? args[i].split("=", 2) : [args[i], undefined];
    const value = (): string | undefined => inline ?? args[++i];
    switch (flag) {
      case "--only": {
        const list = (value() ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
        only = list.map((s) => {
          const sec = SECTIONS.find((x) => x === s);
          if (sec === undefined) throw new Error(`--only: unknown section ${JSON.stringify(s)}`);
          return sec;
        });
        if (only.length === 0) throw new Error("--only needs at least one section");
        break;
      }
      case "--duration-ms":
        durationMs = intArg(flag, value(), 500, 60_000);
        break;
      case "--runs":
        runs = intArg(flag, value(), 1, 20);
        break;
      case "--broker":
        broker = value() ?? "";
        if (broker !== "both" && !BROKER_KINDS.some((k) => k === broker)) {
          throw new Error(`--broker must be edgemq, mosquitto or both, got ${broker}`);
        }
        break;
      case "--json":
        json = true;
        break;
      case "--edgemq-binary":
        edgemqBinary = value();
        if (edgemqBinary === undefined || edgemqBinary === "") {
          throw new Error("--edgemq-binary needs a FILE");
        }
        if (!edgemqBinary.startsWith("/")) edgemqBinary = `${Deno.cwd()}/${edgemqBinary}`;
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(args[i])}`);
    }
  }
  const brokers: BrokerKind[] = broker === "both" ? [...BROKER_KINDS] : [broker as BrokerKind];
  return { only, durationMs, runs, brokers, json, edgemqBinary };
}

/** Cleanups of what is running now (broker, generator), run on SIGINT too. */
const active = new Set<() => Promise<void>>();

function log(msg: string): void {
  console.error(msg);
}

/** Run the generator pinned to its core; bounded by a kill timer. */
async function runGenerator(spec: GenSpec, repoRoot: string): Promise<GenResult> {
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ' +
    `exec taskset -c ${GENERATOR_CORE} "$@"`;
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      script,
      "bash",
      Deno.execPath(),
      "run",
      "-A",
      "bench/loadgen.ts",
      JSON.stringify(spec),
    ],
    cwd: repoRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Longest scenario: persistent (duration + 10 s acks + 120 s drain); idle ramp 60 s.
  const limitMs = 3 * spec.durationMs + 180_000;
  let killed = false;
  const kill = (): Promise<void> => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    return Promise.resolve();
  };
  const timer = setTimeout(kill, limitMs);
  active.add(kill);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
    if (line === undefined) {
      const stderr = new TextDecoder().decode(out.stderr).split("\n").slice(-15).join("\n");
      throw new Error(
        `generator ${
          killed ? "killed (time limit or interrupt)" : `exit ${out.code}`
        }, no result:\n` +
          stderr,
      );
    }
    const parsed: unknown = JSON.parse(line.slice(RESULT_PREFIX.length));
    if (!isGenResult(parsed)) throw new Error(`malformed generator result: ${line}`);
    return parsed;
  } finally {
    clearTimeout(timer);
    active.delete(kill);
  }
}

/** Start a broker, registered for cleanup. */
async function start(
  kind: BrokerKind,
  repoRoot: string,
  opts: BenchOptions,
  label: string,
): Promise<RunningBroker> {
  // Wait for quiet cores first, so start-up and the load both run on them.
  // After a wait that timed out, wait less until the cores are quiet again:
  // on a machine that stays busy, waiting would only make the bench longer.
  const q = await waitForQuietCores(
    [BROKER_CORE, GENERATOR_CORE],
    QUIET_BUSY_SHARE,
    lastWaitTimedOut ? QUIET_RETRY_WAIT_MS : QUIET_MAX_WAIT_MS,
  );
  lastWaitTimedOut = !q.quiet;
  if (!q.quiet) noisy.push(label);
  const b = await startBroker(kind, repoRoot, opts.edgemqBinary);
  active.add(b.stop);
  return b;
}

async function stop(b: RunningBroker): Promise<void> {
  active.delete(b.stop);
  await b.stop();
}

function summary(r: GenResult): string {
  const m = Object.entries(r.metrics)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(" ");
  const p = (x: number): string => `${Math.round(x * 100)}%`;
  return `${m} gen=${p(r.genCoreShare)} broker=${p(r.brokerCoreShare)} ` +
    `others(core0/core1)=${p(r.brokerCoreOtherShare)}/${p(r.genCoreOtherShare)} ` +
    `lost=${r.lost} dup=${r.duplicates}${r.notes.length ? " notes: " + r.notes.join("; ") : ""}`;
}

function addError(s: BrokerSamples, section: Section, msg: string): void {
  const list = s.errors.get(section) ?? [];
  list.push(msg);
  s.errors.set(section, list);
}

/** One scenario on one broker: fresh broker, generator, broker stopped. */
async function runOne(
  scenario: GenScenario,
  kind: BrokerKind,
  opts: BenchOptions,
  repoRoot: string,
  samples: BrokerSamples,
): Promise<void> {
  let broker: RunningBroker;
  try {
    broker = await start(kind, repoRoot, opts, `${kind} ${scenario}`);
  } catch (err) {
    addError(samples, scenario, `start-up failed: ${(err as Error).message}`);
    log(`  ${scenario} ${kind}: start-up failed: ${(err as Error).message}`);
    return;
  }
  samples.startupMs.push(broker.startupMs);
  try {
    const result = await runGenerator(
      { scenario, port: broker.port, brokerPid: broker.pid, durationMs: opts.durationMs },
      repoRoot,
    );
    if (!broker.alive()) {
      throw new Error(`${kind} died during ${scenario}; log:\n${await tail(broker.logPath)}`);
    }
    const list = samples.results.get(scenario) ?? [];
    list.push(result);
    samples.results.set(scenario, list);
    log(`  ${scenario} ${kind}: ${summary(result)}`);
  } catch (err) {
    addError(samples, scenario, (err as Error).message);
    log(`  ${scenario} ${kind}: FAILED: ${(err as Error).message}`);
  } finally {
    await stop(broker);
  }
}

/** Machine facts for the report. */
export async function machineInfo(): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const run = async (cmd: string, args: string[]): Promise<string> => {
    try {
      const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
      return new TextDecoder().decode(o.stdout).trim().split("\n")[0] ?? "";
    } catch {
      return "unknown";
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: String(navigator.hardwareConcurrency),
    cpu: model,
    deno: Deno.version.deno,
    mosquitto: mosquittoInstalled() ? await run(MOSQUITTO_PATH, ["-h"]) : "not installed",
    edgemqCommit: await run("git", ["rev-parse", "--short", "HEAD"]),
  };
}

/**
 * The raft section: bench/raft_bench.ts (the raft engineer's), run once in
 * this process after the broker scenarios, with the same `--duration-ms`.
 */
async function raftSection(durationMs: number): Promise<RaftBenchRow[]> {
  log("raft: replication benchmark (in-process, unpinned)");
  return await runRaftBench({ durationMs });
}

async function main(): Promise<number> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let opts: BenchOptions;
  try {
    opts = parseOptions(Deno.args);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const repoRoot = new URL("..", import.meta.url).pathname;
  const notes: string[] = [];
  let brokers = opts.brokers;
  if (brokers.includes("mosquitto") && !mosquittoInstalled()) {
    brokers = brokers.filter((b) => b !== "mosquitto");
    notes.push(`mosquitto not installed at ${MOSQUITTO_PATH}: edgemq only`);
  }
  if (brokers.length === 0 && opts.only.some((s) => s !== "raft")) {
    console.error(`bench: no broker to measure (${notes.join("; ")})`);
    return 2;
  }
  if (navigator.hardwareConcurrency < 2) {
    notes.push("fewer than 2 CPUs: broker and generator share a core");
  }
  const samples: Record<BrokerKind, BrokerSamples> = {
    edgemq: emptySamples(),
    mosquitto: emptySamples(),
  };
  const onSigint = (): void => {
    log("bench: interrupted, stopping broker and generator");
    Promise.all([...active].map((f) => f())).finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const scenarios = GEN_SCENARIOS.filter((s) => opts.only.includes(s));
  let raftError = "";
  try {
    for (let run = 1; run <= opts.runs; run++) {
      log(`run ${run}/${opts.runs}`);
      for (const scenario of scenarios) {
        for (const kind of brokers) await runOne(scenario, kind, opts, repoRoot, samples[kind]);
      }
      if (scenarios.length === 0 && opts.only.includes("startup")) {
        for (const kind of brokers) {
          try {
            const b = await start(kind, repoRoot, opts, `${kind} startup`);
            samples[kind].startupMs.push(b.startupMs);
            log(`  startup ${kind}: ${b.startupMs.toFixed(1)} ms`);
            await stop(b);
          } catch (err) {
            addError(samples[kind], "startup", (err as Error).message);
          }
        }
      }
    }
  } finally {
    await Promise.all([...active].map((f) => f()));
    Deno.removeSignalListener("SIGINT", onSigint);
  }

  let raftRows: RaftBenchRow[] = [];
  if (opts.only.includes("raft")) {
    try {
      raftRows = await raftSection(opts.durationMs);
    } catch (err) {
      raftError = (err as Error).message;
    }
  }
  const rows = buildRows(samples, opts.only);
  if (noisy.length > 0) {
    notes.push(
      `started while the cores were still busy with other work (waited up to ${QUIET_MAX_WAIT_MS} ms): ` +
        [...new Set(noisy)].join(", "),
    );
  }
  const interference: string[] = [];
  const machine = await machineInfo();
  for (const kind of brokers) {
    for (const [section, errs] of samples[kind].errors) {
      const first = errs[0].replace(/\s*\n\s*/g, " | ").slice(0, 400);
      notes.push(`${kind} ${section}: ${errs.length} failure(s), first: ${first}`);
    }
    for (const [scenario, results] of samples[kind].results) {
      // The same note in several runs (numbers aside) is printed once, with its count.
      const byShape = new Map<string, string[]>();
      for (const n of results.flatMap((r) => r.notes)) {
        const key = n.replace(/\d+/g, "#");
        byShape.set(key, [...(byShape.get(key) ?? []), n]);
      }
      for (const same of byShape.values()) {
        const runs = same.length > 1 ? ` (in ${same.length} of ${results.length} runs)` : "";
        notes.push(`${kind} ${scenario}: ${same[0]}${runs}`);
      }
      const other = Math.max(...results.map((r) => r.brokerCoreOtherShare));
      const otherGen = Math.max(...results.map((r) => r.genCoreOtherShare));
      if (other >= INTERFERENCE_SHARE || otherGen >= INTERFERENCE_SHARE) {
        interference.push(
          `${kind} ${scenario} ${Math.round(other * 100)}%/${Math.round(otherGen * 100)}%`,
        );
      }
    }
  }
  if (interference.length > 0) {
    notes.push(
      "other processes used the cores during the measurement (max share of core 0/core 1), " +
        `figures may be noisy: ${interference.join(", ")}`,
    );
  }
  if (brokers.includes("mosquitto") && opts.only.includes("persistent")) {
    notes.push(
      "mosquitto's persistence is in memory (saved on exit/autosave, no per-message fsync); " +
        "edgemq fsyncs every commit before acknowledging (WAL fdatasync, group commit).",
    );
  }
  const command = `deno task bench ${Deno.args.join(" ")}`.trim();
  if (opts.json) {
    console.log(JSON.stringify(
      {
        command,
        machine,
        options: opts,
        brokers,
        rows,
        raft: raftRows,
        raftError: raftError === "" ? undefined : raftError,
        notes,
        raw: Object.fromEntries(brokers.map((k) => [k, {
          startupMs: samples[k].startupMs,
          results: Object.fromEntries(samples[k].results),
          errors: Object.fromEntries(samples[k].errors),
        }])),
      },
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      2,
    ));
  } else {
    console.log(`\n${command}`);
    console.log(
      `machine: ${machine.nproc} CPUs, ${machine.cpu}; Deno ${machine.deno}; ` +
        `${machine.mosquitto}; edgemq ${machine.edgemqCommit}; ${machine.date}`,
    );
    console.log(
      `broker on core 0, generator on core 1; median of ${opts.runs} run(s), ` +
        `${opts.durationMs} ms measured per phase\n`,
    );
    if (rows.length > 0) console.log(renderTable(rows, brokers));
    if (raftRows.length > 0) console.log(`\n${formatRaftBench(raftRows)}`);
    if (raftError !== "") console.log(`\nraft: FAILED: ${raftError}`);
    if (notes.length > 0) console.log(`\nnotes:\n${notes.map((n) => `- ${n}`).join("\n")}`);
  }
  const failed = brokers.some((k) => samples[k].errors.size > 0) || raftError !== "";
  return failed ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
