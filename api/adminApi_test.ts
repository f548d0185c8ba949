import { assert, assertEquals } from "../testing/assert.ts";
import { silentLogger } from "../log/jsonLog.ts";
import type { MqttBroker, MqttBrokerStats } from "../mqtt/mod.ts";
import type { ListenerStats, RunningListener } from "../mqtt/transport/mod.ts";
import { startAdminApi } from "./adminApi.ts";

function fakeBroker(stats: Partial<MqttBrokerStats>): MqttBroker {
  return {
    handler: () => {
      throw new Error("not used");
    },
    start: () => {},
    close: () => Promise.resolve(),
    stats: () => stats as MqttBrokerStats,
  };
}

function fakeListener(): RunningListener {
  const stats: ListenerStats = {
    openConnections: 3,
    accepted: 10,
    rejected: { "max-connections": 2, "max-connects-per-second": 0, "listener-closing": 0 },
    frameErrors: { "malformed-remaining-length": 1, "packet-too-large": 0, "connect-timeout": 4 },
    handshakeTimeouts: 0,
    slowConsumers: 1,
  };
  return {
    kind: "tcp",
    host: "127.0.0.1",
    port: 1883,
    close: () => Promise.resolve(),
    stats: () => stats,
  };
}

Deno.test("admin API: health, Prometheus metrics with counters and gauges, 404s", async () => {
  const api = await startAdminApi({ host: "127.0.0.1", port: 0 }, {
    nodeId: "n1",
    broker: fakeBroker({ connections: 7, connectsAccepted: 42, publishesIn: 5 }),
    listeners: [fakeListener()],
    cluster: null,
  }, silentLogger);
  try {
    const base = `http://127.0.0.1:${api.port}`;
    const health = await fetch(`${base}/health`);
    assertEquals(await health.json(), { status: "ok", nodeId: "n1" });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert(metrics.includes("# TYPE edgemq_connections gauge\nedgemq_connections 7"), metrics);
    assert(metrics.includes("# TYPE edgemq_connects_accepted_total counter"), metrics);
    assert(metrics.includes("edgemq_connects_accepted_total 42"), metrics);
    assert(metrics.includes('edgemq_listener_open_connections{listener="tcp:1883"} 3'), metrics);
    assert(
      metrics.includes(
        'edgemq_listener_events_total{listener="tcp:1883",event="rejected_max_connections"} 2',
      ),
      metrics,
    );
    assert(metrics.includes("edgemq_process_resident_memory_bytes"), metrics);
    const members = await fetch(`${base}/cluster/members`);
    assertEquals(members.status, 404);
    await members.body?.cancel();
    const other = await fetch(`${base}/nope`);
    assertEquals(other.status, 404);
    await other.body?.cancel();
  } finally {
    await api.close();
  }
});
