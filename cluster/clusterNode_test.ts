import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { createMemoryLogger, type LogFields } from "../log/jsonLog.ts";
import { type ClusterNode, startClusterNode } from "./clusterNode.ts";
import type { MembershipConfig } from "./config.ts";
import { MemoryNetwork } from "./memoryTransport.ts";
import type { NodeMetadata } from "./messages.ts";

const fast: Partial<MembershipConfig> = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2000,
  reconnectIntervalMs: 1000,
  joinRetryIntervalMs: 200,
  leavePropagateMs: 300,
};

const meta = (n: number): NodeMetadata => ({
  mqttEndpoints: [`mqtt://127.0.0.1:${1880 + n}`],
  stores: ["dist"],
  load: { connections: n },
});

async function waitFor(what: string, predicate: () => boolean, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stateOf = (node: ClusterNode, id: string) => node.members().find((m) => m.id === id)?.state;
const logged = (lines: LogFields[], event: string, member: string) =>
  lines.some((l) => l.event === event && l.member === member);

Deno.test("cluster node over TCP: join, RPC, metadata, crash → dead, leave → left", async () => {
  const logs = [
    createMemoryLogger(),
    createMemoryLogger(),
    createMemoryLogger(),
    createMemoryLogger(),
  ];
  const nodes: ClusterNode[] = [];
  try {
    const base = { env: "test", host: "127.0.0.1", port: 0, secret: "s3cret", membership: fast };
    nodes.push(await startClusterNode({ ...base, seedEndpoints: [], metadata: meta(0) }, logs[0]));
    for (let i = 1; i < 4; i++) {
      nodes.push(
        await startClusterNode(
          { ...base, seedEndpoints: [nodes[0].id], metadata: meta(i) },
          logs[i],
        ),
      );
    }
    const ids = nodes.map((n) => n.id);
    await waitFor(
      "join",
      () => nodes.every((n) => ids.every((id) => stateOf(n, id) === "alive")),
      5000,
    );
    ok(logged(logs[0].lines, "member.alive", ids[3]));
    deepStrictEqual(nodes[2].members().find((m) => m.id === ids[1])?.metadata, meta(1));
    strictEqual(nodes[2].members().find((m) => m.id === ids[1])?.endpoint, ids[1]);

    nodes[1].onRequest("echo", (from, p) => new Uint8Array([...p, from.length]));
    const answer = await nodes[3].request(ids[1], "echo", new Uint8Array([7]), 2000);
    deepStrictEqual([...answer], [7, ids[3].length]);
    throws(() => nodes[0].onMessage("swim", () => {}), RangeError);

    nodes[2].updateMetadata({ ...meta(2), load: { connections: 99 } });
    await waitFor(
      "metadata update",
      () => nodes[0].members().find((m) => m.id === ids[2])?.metadata.load.connections === 99,
      3000,
    );

    await nodes[3].close(); // crash: no leave message
    await waitFor("dead", () => [0, 1, 2].every((i) => stateOf(nodes[i], ids[3]) === "dead"), 8000);
    for (const i of [0, 1, 2]) {
      ok(logged(logs[i].lines, "member.dead", ids[3]), `node ${i} did not log`);
    }

    await nodes[2].leave();
    await waitFor("left", () => [0, 1].every((i) => stateOf(nodes[i], ids[2]) === "left"), 3000);
    ok(logged(logs[0].lines, "member.left", ids[2]));
    ok(!logged(logs[0].lines, "member.dead", ids[2]));
    ok(
      !logs.some((l) =>
        logged(l.lines, "member.dead", ids[0]) || logged(l.lines, "member.dead", ids[1])
      ),
    );
  } finally {
    for (const n of nodes) await n.close();
  }
});

Deno.test("cluster node over the memory transport: other env and wrong secret never join", async () => {
  const network = new MemoryNetwork();
  const nodes: ClusterNode[] = [];
  const log = createMemoryLogger();
  try {
    const mk = (id: string, env: string, secret: string, seeds: string[]) =>
      startClusterNode({
        env,
        host: "",
        port: 0,
        secret,
        seedEndpoints: seeds,
        metadata: meta(0),
        membership: fast,
        transportInstance: network.connect({ id, env, secret, log }),
      }, log);
    nodes.push(await mk("10.9.0.1:7946", "prod", "k", []));
    nodes.push(await mk("10.9.0.2:7946", "prod", "k", ["10.9.0.1:7946"]));
    nodes.push(await mk("10.9.0.3:7946", "dev", "k", ["10.9.0.1:7946"]));
    nodes.push(await mk("10.9.0.4:7946", "prod", "x", ["10.9.0.1:7946", "10.9.0.2:7946"]));
    await waitFor("join", () => stateOf(nodes[0], "10.9.0.2:7946") === "alive", 3000);
    await new Promise((r) => setTimeout(r, 1000));
    for (const n of nodes.slice(0, 2)) {
      deepStrictEqual(n.members().map((m) => m.id), ["10.9.0.1:7946", "10.9.0.2:7946"]);
    }
    ok(log.lines.some((l) => l.event === "cluster.peer.rejected" && /env/.test(String(l.reason))));
    ok(
      log.lines.some((l) => l.event === "cluster.peer.rejected" && /secret/.test(String(l.reason))),
    );
  } finally {
    for (const n of nodes) await n.close();
  }
});
