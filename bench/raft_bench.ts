/**
 * Raft replication benchmark: committed proposals per second, p50/p99 commit
 * latency and fsyncs per second, with all three replicas of every group in one
 * process, each node with its own SQLite log (WAL, synchronous=FULL) and the
 * real driver (raft/driver) over the in-memory transport.
 *
 * Cases: one group on 3 replicas; 100 groups on 3 nodes. Entries are 256 B.
 * Load is closed-loop: each group keeps a fixed number of proposals in flight
 * on its leader (node n1, elected up front). Latency is measured from
 * `propose()` to its resolution (the entry is committed by a quorum, fsynced
 * on it, and applied on the leader). Ticks are not driven (no heartbeats; the
 * load keeps the microtask queue busy): this measures the replication path.
 *
 *   deno run -A bench/raft_bench.ts [--duration-ms 3000] [--case single|multi|all] [--json]
 *
 * @module
 */

import { RaftDriver } from "../raft/driver/driver.ts";
import { MemoryNetwork } from "../raft/driver/memoryTransport.ts";
import type { StateMachine } from "../raft/driver/stateMachine.ts";
import { simpleConfState } from "../raft/core/bootstrap.ts";
import type { Entry } from "../raft/storage/logStorage.ts";
import { SqliteLogStore } from "../raft/storage/sqliteLogStore.ts";

/** One measured case. */
export interface RaftBenchRow {
  /** "1 group × 3 replicas" or "100 groups × 3 nodes". */
  readonly name: string;
  readonly groups: number;
  readonly replicas: number;
  readonly entryBytes: number;
  /** Proposals kept in flight per group. */
  readonly inflightPerGroup: number;
  readonly measuredMs: number;
  /** Proposals committed (resolved) inside the measured window. */
  readonly committed: number;
  readonly proposalsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** SQLite write transactions (one WAL fsync each), all nodes together. */
  readonly fsyncs: number;
  readonly fsyncsPerSec: number;
  /** Average proposals per fsync on the leader node. */
  readonly entriesPerLeaderFsync: number;
  /** Proposals that failed (should be 0). */
  readonly failed: number;
}

/** Options of {@link runRaftBench}. */
export interface RaftBenchOptions {
  /** Measured time per case, after a warm-up of a fifth of it. Default 3000 ms (200..60000). */
  readonly durationMs?: number;
  /** Which cases to run. Default both. */
  readonly cases?: readonly ("single" | "multi")[];
  /** Upper bound of proposals per case (stops the load early). Default 2,000,000. */
  readonly maxProposals?: number;
  /** Directory for the SQLite files (a fresh temp dir, removed after, by default). */
  readonly dir?: string;
}

const ENTRY_BYTES = 256;
/**
 * Proposals in flight for the single group. More raises throughput (bigger
 * fsync batches) and latency.
 */
export const SINGLE_INFLIGHT = 64;
/**
 * Proposals in flight per group in the 100-group case (6,400 in total). The
 * three nodes share one thread, so a replication round costs three fsyncs in
 * a row and throughput is set by the entries per fsync: on this machine 8 per
 * group gave ~5,000/s, 32 gave 10,000–20,000/s and 64 gave 16,000–22,000/s
 * (p50 ~250–350 ms), depending on the load from other processes.
 */
export const MULTI_INFLIGHT_PER_GROUP = 64;
const NODES = ["n1", "n2", "n3"] as const;

/** A state machine that only counts applied entries. */
class CountingStateMachine implements StateMachine<number, null, number> {
  count = 0;
  apply(_e: Entry): number {
    return ++this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  restore(data: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(data)) || 0;
  }
  query(): number {
    return this.count;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runCase(
  name: string,
  groups: number,
  inflightPerGroup: number,
  durationMs: number,
  maxProposals: number,
  dir: string,
): Promise<RaftBenchRow> {
  const caseDir = `${dir}/${groups}g`;
  Deno.mkdirSync(caseDir, { recursive: true });
  const net = new MemoryNetwork({ maxQueuedBatches: 1_000_000 });
  const stores = NODES.map((id) => SqliteLogStore.open({ path: `${caseDir}/${id}.db` }));
  const fatal: Error[] = [];
  const drivers = NODES.map((id, i) =>
    new RaftDriver({
      nodeId: id,
      logStore: stores[i],
      transport: net.connect(id),
      tickIntervalMs: 0,
      proposalTimeoutMs: 60_000,
      maxPendingPerGroup: Math.max(1000, inflightPerGroup * 2),
      onFatal: (e) => fatal.push(e),
    })
  );
  const groupIds = Array.from({ length: groups }, (_, g) => `bench/${String(g).padStart(4, "0")}`);
  const conf = simpleConfState([...NODES]);
  try {
    for (const d of drivers) {
      for (const g of groupIds) d.addGroup(g, new CountingStateMachine(), { bootstrap: conf });
    }
    for (const g of groupIds) drivers[0].campaign(g);
    const electDeadline = performance.now() + 10_000;
    while (groupIds.some((g) => drivers[0].status(g).raftState !== "leader")) {
      if (performance.now() > electDeadline) {
        throw new Error(`${name}: leaders not elected within 10 s`);
      }
      await sleep(5);
    }
    // Let the leaders commit their first (empty) entry.
    await sleep(20);

    const payload = new Uint8Array(ENTRY_BYTES).fill(0x5a);
    const latencies = new Float64Array(maxProposals);
    let recorded = 0;
    let issued = 0;
    let failed = 0;
    let inflight = 0;
    const warmupMs = Math.max(100, durationMs / 5);
    const t0 = performance.now() + warmupMs;
    const t1 = t0 + durationMs;
    let stopIssuing = false;
    let fsyncsAtT0 = 0;
    let leaderFsyncsAtT0 = 0;
    let countersTaken = false;
    let done: () => void = () => {};
    const allDone = new Promise<void>((resolve) => (done = resolve));

    const takeCounters = () => {
      fsyncsAtT0 = stores.reduce((s, st) => s + st.stats().writeBatches, 0);
      leaderFsyncsAtT0 = stores[0].stats().writeBatches;
      countersTaken = true;
    };
    let fsyncsAtT1 = 0;
    let leaderFsyncsAtT1 = 0;
    let endTaken = false;

    const issue = (g: string): void => {
      if (stopIssuing || issued >= maxProposals) return;
      issued++;
      inflight++;
      const start = performance.now();
      drivers[0].propose(g, payload).then(
        () => {
          const end = performance.now();
          if (!countersTaken && end >= t0) takeCounters();
          if (end >= t1) {
            if (!endTaken) {
              fsyncsAtT1 = stores.reduce((s, st) => s + st.stats().writeBatches, 0);
              leaderFsyncsAtT1 = stores[0].stats().writeBatches;
              endTaken = true;
            }
            stopIssuing = true;
          } else if (end >= t0 && recorded < latencies.length) {
            latencies[recorded++] = end - start;
          }
        },
        () => {
          failed++;
        },
      ).finally(() => {
        inflight--;
        issue(g);
        if (inflight === 0 && (stopIssuing || issued >= maxProposals)) done();
      });
    };
    for (const g of groupIds) for (let i = 0; i < inflightPerGroup; i++) issue(g);
    await allDone;
    if (fatal.length > 0) throw fatal[0];
    if (!endTaken) {
      // Stopped by maxProposals before the window ended.
      fsyncsAtT1 = stores.reduce((s, st) => s + st.stats().writeBatches, 0);
      leaderFsyncsAtT1 = stores[0].stats().writeBatches;
    }
    const measuredMs = Math.max(1, Math.min(t1, performance.now()) - t0);
    const sorted = latencies.slice(0, recorded).sort();
    const fsyncs = fsyncsAtT1 - fsyncsAtT0;
    const leaderFsyncs = Math.max(1, leaderFsyncsAtT1 - leaderFsyncsAtT0);
    return {
      name,
      groups,
      replicas: NODES.length,
      entryBytes: ENTRY_BYTES,
      inflightPerGroup,
      measuredMs: Math.round(measuredMs),
      committed: recorded,
      proposalsPerSec: Math.round(recorded / (measuredMs / 1000)),
      p50Ms: Number(percentile(sorted, 0.5).toFixed(2)),
      p99Ms: Number(percentile(sorted, 0.99).toFixed(2)),
      fsyncs,
      fsyncsPerSec: Math.round(fsyncs / (measuredMs / 1000)),
      entriesPerLeaderFsync: Number((recorded / leaderFsyncs).toFixed(1)),
      failed,
    };
  } finally {
    for (const d of drivers) d.stop();
    for (const s of stores) s.close();
  }
}

/**
 * Runs the raft benchmark cases and returns one row per case. Bounded: each
 * case runs for `durationMs` (plus warm-up, elections and drain) and at most
 * `maxProposals` proposals.
 */
export async function runRaftBench(opts: RaftBenchOptions = {}): Promise<RaftBenchRow[]> {
  const durationMs = opts.durationMs ?? 3000;
  if (!(durationMs >= 200 && durationMs <= 60_000)) {
    throw new RangeError(`raft bench: durationMs must be in 200..60000, got ${durationMs}`);
  }
  const maxProposals = opts.maxProposals ?? 2_000_000;
  const cases = opts.cases ?? ["single", "multi"];
  const dir = opts.dir ?? Deno.makeTempDirSync({ prefix: "edgemq-raft-bench-" });
  const rows: RaftBenchRow[] = [];
  try {
    if (cases.includes("single")) {
      rows.push(
        await runCase("1 group × 3 replicas", 1, SINGLE_INFLIGHT, durationMs, maxProposals, dir),
      );
    }
    if (cases.includes("multi")) {
      rows.push(
        await runCase(
          "100 groups × 3 nodes",
          100,
          MULTI_INFLIGHT_PER_GROUP,
          durationMs,
          maxProposals,
          dir,
        ),
      );
    }
  } finally {
    if (opts.dir === undefined) Deno.removeSync(dir, { recursive: true });
  }
  return rows;
}

/** Renders rows as a plain-text table. */
export function formatRaftBench(rows: readonly RaftBenchRow[]): string {
  const header = [
    "case",
    "in flight/group",
    "committed/s",
    "p50 ms",
    "p99 ms",
    "fsyncs/s (3 nodes)",
    "entries/leader fsync",
    "failed",
  ];
  const body = rows.map((r) => [
    r.name,
    String(r.inflightPerGroup),
    String(r.proposalsPerSec),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(r.fsyncsPerSec),
    r.entriesPerLeaderFsync.toFixed(1),
    String(r.failed),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `raft: ${ENTRY_BYTES} B entries, 3 replicas in one process, SQLite WAL synchronous=FULL per node`,
    line(header),
    ...body.map(line),
  ].join("\n");
}

if (import.meta.main) {
  const args = Deno.args;
  let durationMs = 3000;
  let cases: ("single" | "multi")[] = ["single", "multi"];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--duration-ms") durationMs = Number(args[++i]);
    else if (args[i] === "--case") {
      const c = args[++i];
      cases = c === "single" ? ["single"] : c === "multi" ? ["multi"] : ["single", "multi"];
    } else if (args[i] === "--json") json = true;
    else {
      console.error(
        `unknown argument ${args[i]}; usage: [--duration-ms N] [--case single|multi|all] [--json]`,
      );
      Deno.exit(2);
    }
  }
  const rows = await runRaftBench({ durationMs, cases });
  console.log(json ? JSON.stringify(rows, null, 2) : formatRaftBench(rows));
}
