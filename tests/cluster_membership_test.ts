/**
 * Multi-process membership test: 5 node processes on 127.0.0.1 join from seed
 * endpoints; `kill -9` of one is logged `member.dead` by every other node; the
 * restarted process is logged `member.alive` again; a node with the wrong secret and
 * a node of another env are never admitted. Default (LAN) membership settings.
 *
 * Entry point: `main.ts --config FILE` (the full node);
 * `EDGEMQ_CLUSTER_ENTRY=cluster/main_membership.ts` runs the membership-only runner.
 */

import { ok } from "node:assert/strict";
import { join } from "node:path";
import { freePorts, NodeProcess, waitUntil } from "../cluster/testing/nodeProcess.ts";
const ENTRY = Deno.env.get("EDGEMQ_CLUSTER_ENTRY") ?? "main.ts";
const DETECT_BOUND_MS = 10_000;
const REJOIN_BOUND_MS = 10_000;
// Generous: the first run of main.ts in a fresh cache transpiles the whole graph.
const JOIN_BOUND_MS = 45_000;

Deno.test({
  name: "5 processes: join, kill -9 → dead everywhere, restart → alive, intruders never admitted",
  sanitizeResources: true,
  sanitizeOps: true,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "edgemq-cluster-" });
    const ports = await freePorts(7);
    const ids = ports.map((p) => `127.0.0.1:${p}`);
    const seeds = `${ids[0]},${ids[1]}`;
    const writeConfig = (i: number, env: string, secret: string, seedList: string) => {
      const path = join(dir, `node${i}.yaml`);
      Deno.writeTextFileSync(
        path,
        [
          `clusterConfig: { env: ${env}, host: 127.0.0.1, port: ${
            ports[i]
          }, seedEndpoints: "${seedList}", secret: ${secret} }`,
          `mqttServiceConfig: { tcpListener: { enable: true, host: 127.0.0.1, port: 0 }, wsListener: { enable: false } }`,
          `stateStoreConfig: { dataDir: ${join(dir, `data${i}`)} }`,
          `apiServerConfig: { enable: false }`,
          "",
        ].join("\n"),
      );
      return path;
    };
    const configs = [0, 1, 2, 3, 4].map((i) => writeConfig(i, "test", "s3cret", seeds));
    const procs: NodeProcess[] = [];
    try {
      const startedAt = Date.now();
      for (let i = 0; i < 5; i++) procs.push(new NodeProcess(`node${i}`, configs[i], ENTRY));
      const cluster = () => procs.slice(0, 5);
      await waitUntil(
        "5 nodes to see each other alive",
        () =>
          cluster().every((p, i) =>
            ids.slice(0, 5).every((id, j) => i === j || p.logged("member.alive", id))
          ),
        JOIN_BOUND_MS,
      );
      console.log(`join convergence (5 processes, from spawn): ${Date.now() - startedAt} ms`);

      // Intruders: same seeds, wrong secret / other env.
      procs.push(
        new NodeProcess(
          "wrong-secret",
          writeConfig(5, "test", "n0t-the-secret", ids.slice(0, 5).join(",")),
          ENTRY,
        ),
      );
      procs.push(
        new NodeProcess(
          "other-env",
          writeConfig(6, "other", "s3cret", ids.slice(0, 5).join(",")),
          ENTRY,
        ),
      );
      await new Promise((r) => setTimeout(r, 3000));

      const victim = 3;
      const others = [0, 1, 2, 4];
      const killedAt = Date.now();
      await procs[victim].kill();
      await waitUntil(
        `every other node to log ${ids[victim]} dead`,
        () =>
          others.every((i) =>
            procs[i].loggedAt("member.dead", ids[victim], killedAt) !== undefined
          ),
        DETECT_BOUND_MS + 5000,
      );
      const detectMs = Math.max(...others.map((i) =>
        procs[i].loggedAt("member.dead", ids[victim], killedAt)!
      )) -
        killedAt;
      console.log(`kill -9 → all 4 log member.dead: ${detectMs} ms`);
      ok(detectMs <= DETECT_BOUND_MS, `detection took ${detectMs} ms`);

      const restartedAt = Date.now();
      procs[victim] = new NodeProcess(`node${victim}-restarted`, configs[victim], ENTRY);
      await waitUntil(
        `every other node to log ${ids[victim]} alive again`,
        () =>
          others.every((i) =>
            procs[i].loggedAt("member.alive", ids[victim], restartedAt) !== undefined
          ),
        REJOIN_BOUND_MS + 5000,
      );
      const rejoinMs = Math.max(...others.map((i) =>
        procs[i].loggedAt("member.alive", ids[victim], restartedAt)!
      )) -
        restartedAt;
      console.log(`restart (spawn) → all 4 log member.alive: ${rejoinMs} ms`);
      ok(rejoinMs <= REJOIN_BOUND_MS, `rejoin took ${rejoinMs} ms`);

      for (const intruder of [5, 6]) {
        for (const p of cluster()) {
          ok(!p.logged("member.alive", ids[intruder]), `${p.name} admitted ${ids[intruder]}`);
        }
        for (const id of ids.slice(0, 5)) {
          ok(!procs[intruder].logged("member.alive", id), `${procs[intruder].name} joined ${id}`);
        }
      }
      ok(
        cluster().some((p) => p.lines.some((l) => l.fields.event === "cluster.peer.rejected")),
        "no node logged a rejected peer",
      );
      // A graceful stop (SIGTERM) is seen as a leave, not a failure.
      const leaver = 2;
      const stayers = [0, 1, 3, 4];
      const stoppedAt = Date.now();
      await procs[leaver].terminate(10_000);
      await waitUntil(
        `every other node to log ${ids[leaver]} left`,
        () => stayers.every((i) => procs[i].loggedAt("member.left", ids[leaver], stoppedAt)),
        10_000,
      );
      console.log(`SIGTERM → all 4 log member.left: ${Date.now() - stoppedAt} ms`);
      // No live node was ever declared dead (the leaver neither: it left).
      for (const p of cluster()) {
        for (const i of [0, 1, 2, 4]) {
          ok(!p.logged("member.dead", ids[i]), `${p.name}: false dead ${ids[i]}`);
        }
      }
    } finally {
      for (const p of procs) await p.kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
