import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { mosquittoInstalled, startBroker } from "./brokers.ts";
import { runScenario } from "./loadgen.ts";

const repoRoot = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "the generator measures mosquitto without loss (fan-in, QoS 1, persistent)",
  ignore: !mosquittoInstalled(),
  async fn() {
    const broker = await startBroker("mosquitto", repoRoot);
    try {
      for (const scenario of ["fanin", "qos1", "persistent"] as const) {
        const r = await runScenario({
          scenario,
          port: broker.port,
          brokerPid: broker.pid,
          durationMs: 500,
        });
        assertEquals([r.scenario, r.lost, r.duplicates], [scenario, 0, 0]);
        const rate = r.metrics.msgPerSec ?? r.metrics.outMsgPerSec;
        assert(rate > 1000, `${scenario}: ${JSON.stringify(r.metrics)}`);
        assert(r.brokerCoreShare > 0, `${scenario}: broker CPU not measured`);
      }
      assert(broker.alive());
    } finally {
      await broker.stop();
    }
  },
});
