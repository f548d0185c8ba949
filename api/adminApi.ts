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

/** What the API reports on. */
export interface AdminApiSources {
  readonly nodeId: string;
  readonly broker: MqttBroker;
  readonly cluster: ClusterNode | null;
}

/** A running admin API. */
export interface AdminApi {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function metricName(key: string): string {
  return "edgemq_" + key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[^A-Za-z0-9_]/g, "_")
    .toLowerCase();
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

/** Builds the metrics registry; broker statistics are read at scrape time. */
export function createMetricsRegistry(sources: AdminApiSources, client: PromClient): Registry {
  const registry = new client.Registry();
  const sample = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(sources.broker.stats())) {
      if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
    }
    return out;
  };
  for (const key of Object.keys(sample())) {
    registry.registerMetric(
      new client.Gauge({
        name: metricName(key),
        help: `broker statistic ${key}`,
        registers: [],
        collect() {
          this.set(sample()[key] ?? 0);
        },
      }),
    );
  }
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
