/**
 * The HTTP admin API: health, Prometheus metrics and cluster status.
 *
 * - `GET /health` → 200 `{"status":"ok","nodeId":...}`
 * - `GET /metrics` → Prometheus text (broker counters and gauges, members)
 * - `GET /cluster/members` → the member list (404 when not clustered)
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { Logger } from "../log/jsonLog.ts";
import type { MqttBroker } from "../mqtt/mod.ts";
import type { ClusterNode } from "../cluster/mod.ts";
import type { RunningListener } from "../mqtt/transport/mod.ts";

/** What the API reports on. */
export interface AdminApiSources {
  readonly nodeId: string;
  readonly broker: MqttBroker;
  readonly listeners: readonly RunningListener[];
  readonly cluster: ClusterNode | null;
}

/** A running admin API. */
export interface AdminApi {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Broker statistics that go up and down; every other statistic only grows (a counter). */
const BROKER_GAUGES: ReadonlySet<string> = new Set([
  "connections",
  "openConnections",
  "pendingWills",
]);

function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[^A-Za-z0-9_]/g, "_").toLowerCase();
}

function numericStats(stats: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** The prom-client module. */
export type PromClient = typeof import("prom-client");

/**
 * Loads prom-client. Called at the first scrape, not at start-up: evaluating
 * it (and what it requires) costs about 25 ms before the first CONNACK.
 */
export async function loadPromClient(): Promise<PromClient> {
  return await import("prom-client");
}

/**
 * Builds the metrics registry. Values are read at scrape time: broker
 * statistics (counters `edgemq_*_total`, gauges), per-listener transport
 * statistics (labelled by listener), cluster members by state, and the
 * process metrics of prom-client (CPU, memory, event-loop lag).
 */
export function createMetricsRegistry(sources: AdminApiSources, client: PromClient): Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "edgemq_" });
  const brokerStats = () => numericStats(sources.broker.stats());
  for (const key of Object.keys(brokerStats())) {
    const help = `broker statistic ${key}`;
    if (BROKER_GAUGES.has(key)) {
      registry.registerMetric(
        new client.Gauge({
          name: `edgemq_${snakeCase(key)}`,
          help,
          registers: [],
          collect() {
            this.set(brokerStats()[key] ?? 0);
          },
        }),
      );
    } else {
      registry.registerMetric(
        new client.Counter({
          name: `edgemq_${snakeCase(key)}_total`,
          help,
          registers: [],
          collect() {
            this.reset();
            this.inc(brokerStats()[key] ?? 0);
          },
        }),
      );
    }
  }
  const listenerLabel = (l: RunningListener) => ({ listener: `${l.kind}:${l.port}` });
  registry.registerMetric(
    new client.Gauge({
      name: "edgemq_listener_open_connections",
      help: "sockets admitted and still open, per listener",
      labelNames: ["listener"],
      registers: [],
      collect() {
        for (const l of sources.listeners) this.set(listenerLabel(l), l.stats().openConnections);
      },
    }),
  );
  registry.registerMetric(
    new client.Counter({
      name: "edgemq_listener_events_total",
      help:
        "per listener: accepted sockets, rejections by reason, frame errors by kind, handshake timeouts, slow consumers",
      labelNames: ["listener", "event"],
      registers: [],
      collect() {
        this.reset();
        for (const l of sources.listeners) {
          const st = l.stats();
          const label = listenerLabel(l).listener;
          this.inc({ listener: label, event: "accepted" }, st.accepted);
          for (const [reason, n] of Object.entries(st.rejected)) {
            this.inc({ listener: label, event: `rejected_${snakeCase(reason)}` }, n);
          }
          for (const [kind, n] of Object.entries(st.frameErrors)) {
            this.inc({ listener: label, event: `frame_error_${snakeCase(kind)}` }, n);
          }
          this.inc({ listener: label, event: "handshake_timeout" }, st.handshakeTimeouts);
          this.inc({ listener: label, event: "slow_consumer" }, st.slowConsumers);
        }
      },
    }),
  );
  if (sources.cluster !== null) {
    const cluster = sources.cluster;
    registry.registerMetric(
      new client.Gauge({
        name: "edgemq_cluster_members",
        help: "members by state as seen by this node",
        labelNames: ["state"],
        registers: [],
        collect() {
          this.reset();
          for (const state of ["alive", "suspect", "dead", "left"]) this.set({ state }, 0);
          for (const m of cluster.members()) this.inc({ state: m.state });
        },
      }),
    );
  }
  return registry;
}

/** Starts the admin API on `config.host:config.port`. */
export async function startAdminApi(
  config: { host: string; port: number },
  sources: AdminApiSources,
  log: Logger,
): Promise<AdminApi> {
  let registry: Promise<Registry> | null = null;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
  }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET") return json(405, { error: "method not allowed" });
    switch (url.pathname) {
      case "/health":
        return json(200, { status: "ok", nodeId: sources.nodeId });
      case "/metrics": {
        const r = await (registry ??= loadPromClient().then((c) =>
          createMetricsRegistry(sources, c)
        ));
        return new Response(await r.metrics(), { headers: { "content-type": r.contentType } });
      }
      case "/cluster/members":
        if (sources.cluster === null) return json(404, { error: "not clustered" });
        return json(200, sources.cluster.members());
      default:
        log.debug("api.not_found", { path: url.pathname });
        return json(404, { error: `no such endpoint ${url.pathname}` });
    }
  });
  const addr = await ready.promise;
  return {
    host: addr.hostname,
    port: addr.port,
    close: () => server.shutdown(),
  };
}
