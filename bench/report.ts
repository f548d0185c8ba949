/**
 * The bench table: one row per figure, edgemq beside mosquitto, the ratio
 * edgemq/mosquitto, the issue-5 target and whether it is met, the peers'
 * reference figures, and the generator's own CPU so a generator bottleneck
 * is visible.
 *
 * @module
 */
import type { BrokerKind } from "./brokers.ts";
import type { GenResult, GenScenario } from "./gen_types.ts";
import { median } from "./stats.ts";

/** Sections selectable with `--only`: generator scenarios, start-up, raft. */
export type Section = GenScenario | "startup" | "raft";

/** Every measurement collected for one broker. */
export interface BrokerSamples {
  /** Generator results per scenario, one per run. */
  readonly results: Map<GenScenario, GenResult[]>;
  /** Start-up (spawn → first CONNACK) of every start, ms. */
  readonly startupMs: number[];
  /** Failures per scenario (start-up errors, generator crashes, broker crashes). */
  readonly errors: Map<Section, string[]>;
}

/** A new empty {@link BrokerSamples}. */
export function emptySamples(): BrokerSamples {
  return { results: new Map(), startupMs: [], errors: new Map() };
}

/** Figures the issue quotes for the peers (2 vCPU VM, median of 5 runs). */
interface PeerRefs {
  readonly mosquitto: number;
  readonly aedes: number;
}

/** Definition of one table row. */
interface RowDef {
  readonly id: string;
  readonly section: Section;
  readonly label: string;
  readonly unit: "msg/s" | "deliveries/s" | "ms" | "B" | "connects/CPU-s";
  readonly better: "higher" | "lower";
  readonly pick: (r: GenResult) => number;
  readonly refs?: PeerRefs;
  /** Target from mosquitto's measured figure (undefined when not measured). */
  readonly target: (mosquitto: number | undefined) => number;
  readonly targetText: string;
  /** Whether a saturated generator makes this figure a bound (rates, latencies). */
  readonly loadSensitive: boolean;
}

const betterPeer = (measured: number | undefined, aedes: number): number =>
  Math.max(measured ?? 0, aedes);

/** The rows of the table, in print order. */
export const ROWS: readonly RowDef[] = [
  {
    id: "fanin",
    section: "fanin",
    label: "fan-in 16 pub QoS0 64B → 1 sub bench/#",
    unit: "msg/s",
    better: "higher",
    pick: (r) => r.metrics.msgPerSec,
    refs: { mosquitto: 43_000, aedes: 89_000 },
    target: (m) => 2 * betterPeer(m, 89_000),
    targetText: "≥ 2× better peer",
    loadSensitive: true,
  },
  {
    id: "fanout",
    section: "fanout",
    label: "fan-out 1 pub → 100 subs QoS0",
    unit: "deliveries/s",
    better: "higher",
    pick: (r) => r.metrics.deliveriesPerSec,
    refs: { mosquitto: 99_000, aedes: 64_000 },
    target: (m) => 2 * betterPeer(m, 64_000),
    targetText: "≥ 2× better peer",
    loadSensitive: true,
  },
  {
    id: "qos1",
    section: "qos1",
    label: "QoS1 window 64 → QoS1 sub",
    unit: "msg/s",
    better: "higher",
    pick: (r) => r.metrics.msgPerSec,
    refs: { mosquitto: 21_000, aedes: 53_000 },
    target: (m) => 1.5 * betterPeer(m, 53_000),
    targetText: "≥ 1.5× better peer",
    loadSensitive: true,
  },
  {
    id: "qos1_p99",
    section: "qos1",
    label: "QoS1 window 64: p99 latency",
    unit: "ms",
    better: "lower",
    pick: (r) => r.metrics.p99Ms,
    refs: { mosquitto: 3.9, aedes: 72 },
    target: (m) => 1.5 * (m ?? 3.9),
    targetText: "≤ 1.5× mosquitto",
    loadSensitive: true,
  },
  {
    id: "paced_p99",
    section: "paced",
    label: "QoS1 paced 5,000 msg/s: p99 latency",
    unit: "ms",
    better: "lower",
    pick: (r) => r.metrics.p99Ms,
    refs: { mosquitto: 1.0, aedes: 2.3 },
    target: () => 1.0,
    targetText: "≤ 1 ms",
    loadSensitive: true,
  },
  {
    id: "persistent_in",
    section: "persistent",
    label: "persistent QoS1 into offline session: in",
    unit: "msg/s",
    better: "higher",
    pick: (r) => r.metrics.inMsgPerSec,
    target: () => 20_000,
    targetText: "≥ 20k",
    loadSensitive: true,
  },
  {
    id: "persistent_out",
    section: "persistent",
    label: "persistent QoS1: drain on reconnect: out",
    unit: "msg/s",
    better: "higher",
    pick: (r) => r.metrics.outMsgPerSec,
    target: () => 20_000,
    targetText: "≥ 20k",
    loadSensitive: true,
  },
  {
    id: "idle",
    section: "idle",
    label: "10,000 idle connections: RSS each",
    unit: "B",
    better: "lower",
    pick: (r) => r.metrics.bytesPerConn,
    refs: { mosquitto: 734, aedes: 14.9 * 1024 }, // issue: "14.9 KB"
    target: () => 8192,
    targetText: "≤ 8 KB",
    loadSensitive: false,
  },
  {
    id: "overload",
    section: "overload",
    label: "overload: QoS0 flood into a paused subscriber: broker RSS growth",
    unit: "B",
    better: "lower",
    pick: (r) => r.metrics.rssGrowthBytes,
    target: () => 64 * 1024 * 1024,
    targetText: "≤ 64 MB growth",
    loadSensitive: false,
  },
  {
    id: "connects",
    section: "connects",
    label: "connects per broker CPU-second",
    unit: "connects/CPU-s",
    better: "higher",
    pick: (r) => r.metrics.connectsPerCpuSec,
    refs: { mosquitto: 15_000, aedes: 3_000 },
    target: () => 12_000,
    targetText: "≥ 12k",
    loadSensitive: false,
  },
];

/** The start-up row (not from the generator). */
export const STARTUP_TARGET_MS = 300;

/** One computed row, also the `--json` shape. */
export interface TableRow {
  /** Row id (e.g. `fanin`, `qos1_p99`). */
  readonly id: string;
  /** Human description. */
  readonly label: string;
  /** Unit of the values. */
  readonly unit: string;
  /** Which direction is better. */
  readonly better: "higher" | "lower";
  /** Target value and how it is defined. */
  readonly target: number;
  /** How the target is defined. */
  readonly targetText: string;
  /** Median per broker (NaN when not measured). */
  readonly values: Record<BrokerKind, number>;
  /** edgemq / mosquitto (NaN when either is missing). */
  readonly ratio: number;
  /**
   * For throughput rows: figure per broker CPU-second (median over runs of
   * figure / broker core share) — robust to other load on the machine.
   */
  readonly perBrokerCpuSecond: Record<BrokerKind, number>;
  /** edgemq / mosquitto of {@link TableRow.perBrokerCpuSecond}. */
  readonly ratioPerCpu: number;
  /** Whether edgemq met the target (null when edgemq was not measured). */
  readonly met: boolean | null;
  /** Generator CPU share of its core (median) per broker. */
  readonly genCore: Record<BrokerKind, number>;
  /** Broker CPU share of its core (median) per broker. */
  readonly brokerCore: Record<BrokerKind, number>;
  /** Messages lost, summed over runs, per broker. */
  readonly lost: Record<BrokerKind, number>;
  /** Issue-5 peer figures, when quoted. */
  readonly refs?: PeerRefs;
  /** Whether a saturated generator makes this figure a bound. */
  readonly loadSensitive: boolean;
}

function perBroker<T>(f: (k: BrokerKind) => T): Record<BrokerKind, T> {
  return { edgemq: f("edgemq"), mosquitto: f("mosquitto") };
}

/** Compute the table rows for the selected sections. */
export function buildRows(
  samples: Record<BrokerKind, BrokerSamples>,
  sections: readonly Section[],
): TableRow[] {
  const rows: TableRow[] = [];
  for (const def of ROWS) {
    if (!sections.includes(def.section)) continue;
    const scenario = def.section as GenScenario;
    const runs = perBroker((k) => samples[k].results.get(scenario) ?? []);
    const values = perBroker((k) => median(runs[k].map(def.pick)));
    const mosq = Number.isFinite(values.mosquitto) ? values.mosquitto : undefined;
    const target = def.target(mosq);
    const isRate = def.unit === "msg/s" || def.unit === "deliveries/s";
    const perCpu = perBroker((k) =>
      isRate
        ? median(
          runs[k].map((r) => (r.brokerCoreShare > 0 ? def.pick(r) / r.brokerCoreShare : NaN)),
        )
        : NaN
    );
    rows.push({
      id: def.id,
      label: def.label,
      unit: def.unit,
      better: def.better,
      target,
      targetText: def.targetText,
      values,
      ratio: values.edgemq / values.mosquitto,
      perBrokerCpuSecond: perCpu,
      ratioPerCpu: perCpu.edgemq / perCpu.mosquitto,
      met: Number.isFinite(values.edgemq)
        ? (def.better === "higher" ? values.edgemq >= target : values.edgemq <= target)
        : null,
      genCore: perBroker((k) => median(runs[k].map((r) => r.genCoreShare))),
      brokerCore: perBroker((k) => median(runs[k].map((r) => r.brokerCoreShare))),
      lost: perBroker((k) => runs[k].reduce((a, r) => a + r.lost, 0)),
      refs: def.refs,
      loadSensitive: def.loadSensitive,
    });
  }
  if (sections.includes("startup")) {
    const values = perBroker((k) => median(samples[k].startupMs));
    rows.push({
      id: "startup",
      label: "start-up to first CONNACK",
      unit: "ms",
      better: "lower",
      target: STARTUP_TARGET_MS,
      targetText: "≤ 300 ms",
      values,
      ratio: values.edgemq / values.mosquitto,
      perBrokerCpuSecond: perBroker(() => NaN),
      ratioPerCpu: NaN,
      met: Number.isFinite(values.edgemq) ? values.edgemq <= STARTUP_TARGET_MS : null,
      genCore: perBroker(() => NaN),
      brokerCore: perBroker(() => NaN),
      lost: perBroker(() => 0),
      loadSensitive: false,
    });
  }
  return rows;
}

/** Format a value in its unit, compactly (e.g. `123.4k msg/s`, `1.23 ms`, `4.9 KB`). */
export function formatValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return "—";
  if (unit === "ms") return `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;
  if (unit === "B") {
    if (v >= 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} MB`;
    return v >= 1024 ? `${(v / 1024).toFixed(1)} KB` : `${v.toFixed(0)} B`;
  }
  const short = v >= 1e6
    ? `${(v / 1e6).toFixed(2)}M`
    : v >= 1e3
    ? `${(v / 1e3).toFixed(1)}k`
    : v.toFixed(0);
  return `${short} ${unit}`;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v * 100)}%` : "—";
}

/** Generator CPU share from which a figure counts as generator-bound. */
export const GEN_BOUND_SHARE = 0.9;

/** Render the rows as a Markdown table, with footnotes. */
export function renderTable(rows: readonly TableRow[], brokers: readonly BrokerKind[]): string {
  const both = brokers.includes("edgemq") && brokers.includes("mosquitto");
  const head = [
    "scenario",
    "target",
    ...brokers,
    ...(both ? ["edgemq/mosquitto", "per broker CPU-s"] : []),
    "target met",
    "peers in issue 5 (mosquitto / aedes)",
    "gen CPU",
    "broker CPU",
    "lost",
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
  ];
  let genBound = false;
  for (const r of rows) {
    const mark = (k: BrokerKind): string => {
      if (r.loadSensitive && r.genCore[k] >= GEN_BOUND_SHARE) {
        genBound = true;
        return " *";
      }
      return "";
    };
    const cells = [
      r.label,
      `${r.targetText} (${formatValue(r.target, r.unit)})`,
      ...brokers.map((k) => formatValue(r.values[k], r.unit) + mark(k)),
      ...(both
        ? [
          Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : "—",
          Number.isFinite(r.ratioPerCpu) ? `${r.ratioPerCpu.toFixed(2)}×` : "—",
        ]
        : []),
      r.met === null ? "—" : r.met ? "yes" : "**no**",
      r.refs
        ? `${formatValue(r.refs.mosquitto, r.unit)} / ${formatValue(r.refs.aedes, r.unit)}`
        : "—",
      brokers.map((k) => pct(r.genCore[k])).join(" / "),
      brokers.map((k) => pct(r.brokerCore[k])).join(" / "),
      brokers.map((k) => String(r.lost[k])).join(" / "),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");
  lines.push(
    `gen CPU / broker CPU / lost: per broker in column order (${brokers.join(" / ")}); ` +
      "CPU is the share of one core during the measured phase, lost is summed over runs." +
      (both
        ? " 'per broker CPU-s': edgemq/mosquitto of each rate divided by the broker's CPU " +
          "share (work per CPU-second; less sensitive to other load on the machine)."
        : ""),
  );
  if (genBound) {
    lines.push(
      `\\* generator at ≥ ${GEN_BOUND_SHARE * 100}% of its core: the broker may be faster ` +
        "than shown (rates are lower bounds, latencies include generator queueing).",
    );
  }
  return lines.join("\n");
}
