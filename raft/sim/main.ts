/**
 * CLI of the Raft simulator.
 *
 *   deno task sim --seeds N --start S     run seeds S … S+N−1
 *   deno task sim --seed S --trace        replay one seed with its event trace
 *   (add --messages to trace every message; --ticks T for the safety phase)
 *
 * The last line is `sim: N seeds, V violations`; the exit code is 1 when V > 0.
 *
 * @module
 */

import { SqliteLogStore } from "../storage/sqliteLogStore.ts";
import { runSimulation, type SimBugs, type SimResult } from "./simulation.ts";

interface Args {
  seeds: number;
  start: number;
  trace: boolean;
  messages: boolean;
  ticks: number | undefined;
  quiet: boolean;
  bootstrapIndex: 0 | 1;
  bugs: SimBugs;
  sqliteMirror: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    seeds: 100,
    start: 0,
    trace: false,
    messages: false,
    ticks: undefined,
    quiet: false,
    bootstrapIndex: 1,
    bugs: {},
    sqliteMirror: false,
  };
  const num = (i: number, flag: string): number => {
    const v = Number(argv[i]);
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${flag} needs a non-negative integer, got ${argv[i]}`);
    }
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--seeds") a.seeds = num(++i, f);
    else if (f === "--start") a.start = num(++i, f);
    else if (f === "--seed") {
      a.start = num(++i, f);
      a.seeds = 1;
    } else if (f === "--trace") a.trace = true;
    else if (f === "--messages") a.messages = true;
    else if (f === "--ticks") a.ticks = num(++i, f);
    else if (f === "--quiet") a.quiet = true;
    else if (f === "--sqlite-mirror") a.sqliteMirror = true;
    else if (f === "--bug") {
      const b = argv[++i];
      if (b === "ack-before-commit") a.bugs = { ...a.bugs, ackBeforeCommit: true };
      else if (b === "send-before-sync") a.bugs = { ...a.bugs, sendBeforeSync: true };
      else throw new RangeError(`--bug is ack-before-commit or send-before-sync, got ${b}`);
    } else if (f === "--bootstrap-index") {
      const v = num(++i, f);
      if (v !== 0 && v !== 1) throw new RangeError(`--bootstrap-index is 0 or 1, got ${v}`);
      a.bootstrapIndex = v;
    } else {throw new RangeError(
        `unknown argument ${f} (use --seeds N --start S | --seed S --trace [--messages])`,
      );}
  }
  return a;
}

/** Lines of trace printed with a violation found without --trace. */
const TRACE_TAIL_LINES = 60;

/** Replays `seed` with tracing on and prints the end of the trace. */
function printTraceTail(seed: number, args: Args, violation: string): void {
  const tail: string[] = [];
  const replay = runSimulation({
    seed,
    trace: (line) => {
      tail.push(line);
      if (tail.length > TRACE_TAIL_LINES) tail.shift();
    },
    safetyTicks: args.ticks,
    bootstrapIndex: args.bootstrapIndex,
    bugs: args.bugs,
  });
  console.log(`  last ${tail.length} trace lines of the replay:`);
  for (const line of tail) console.log(`    ${line}`);
  console.log(
    `  replay ${
      replay.violation === violation ? "reproduces" : "DOES NOT reproduce"
    } the violation`,
  );
}

/** The flags besides the seed that a replay needs to run the same simulation. */
function replayFlags(args: ReturnType<typeof parseArgs>): string {
  let out = "";
  if (args.ticks !== undefined) out += ` --ticks ${args.ticks}`;
  if (args.bootstrapIndex !== 1) out += ` --bootstrap-index ${args.bootstrapIndex}`;
  if (args.bugs.ackBeforeCommit) out += " --bug ack-before-commit";
  if (args.bugs.sendBeforeSync) out += " --bug send-before-sync";
  if (args.sqliteMirror) out += " --sqlite-mirror";
  return out;
}

/** Runs the CLI; returns the exit code. */
export function main(argv: readonly string[]): number {
  const args = parseArgs(argv);
  let violations = 0;
  let inconclusive = 0;
  const startedMs = performance.now();
  let mirrorDir: string | undefined;
  if (args.sqliteMirror) {
    let base: string | undefined;
    try {
      base = Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
    } catch {
      base = undefined;
    }
    mirrorDir = Deno.makeTempDirSync({ prefix: "edgemq-sim-mirror-", dir: base });
  }
  const mirrorFor = (seed: number) =>
    mirrorDir === undefined
      ? undefined
      : (id: string) => () => SqliteLogStore.open({ path: `${mirrorDir}/${seed}-${id}.db` });
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    const r: SimResult = runSimulation({
      mirrorStore: mirrorFor(seed),
      seed,
      trace: args.trace ? (line) => console.log(line) : undefined,
      traceMessages: args.messages,
      safetyTicks: args.ticks,
      bootstrapIndex: args.bootstrapIndex,
      bugs: args.bugs,
    });
    if (r.inconclusive) {
      inconclusive++;
      console.log(`seed ${seed}: linearizability check inconclusive (search budget exhausted)`);
    }
    if (r.violation !== null) {
      violations++;
      console.log(`seed ${seed}: VIOLATION ${r.violation}`);
      if (!args.trace) printTraceTail(seed, args, r.violation);
      console.log(`  replay: deno task sim --seed ${seed} --trace${replayFlags(args)}`);
    } else if (args.trace || (!args.quiet && args.seeds <= 20)) {
      console.log(`seed ${seed}: ok ${JSON.stringify(r.stats)}`);
    }
    if (!args.quiet && args.seeds > 20 && (seed - args.start + 1) % 500 === 0) {
      const s = ((performance.now() - startedMs) / 1000).toFixed(1);
      console.log(`… ${seed - args.start + 1} seeds in ${s} s, ${violations} violations`);
    }
  }
  if (mirrorDir !== undefined) Deno.removeSync(mirrorDir, { recursive: true });
  const s = ((performance.now() - startedMs) / 1000).toFixed(1);
  if (inconclusive > 0) console.log(`(${inconclusive} inconclusive linearizability checks)`);
  console.log(`(${s} s)`);
  console.log(`sim: ${args.seeds} seeds, ${violations} violations`);
  return violations > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
