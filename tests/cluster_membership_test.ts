/**
 * Multi-process membership test: 5 node processes on 127.0.0.1 join from seed
 * endpoints; `kill -9` of one is logged `member.dead` by every other node; the
 * restarted process is logged `member.alive` again; a node with the wrong secret and
 * a node of another env are never admitted. Default (LAN) membership settings.
 *
 * Entry point: `main.ts --config FILE` (the full node); set
 * `EDGEMQ_CLUSTER_ENTRY=cluster/main_membership.ts` to run the membership-only runner.
 */

import { ok } from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ENTRY = Deno.env.get("EDGEMQ_CLUSTER_ENTRY") ?? "main.ts";
const DETECT_BOUND_MS = 10_000;
const REJOIN_BOUND_MS = 10_000;
const JOIN_BOUND_MS = 20_000;

interface Line {
  atMs: number;
  fields: Record<string, unknown>;
}

class NodeProcess {
  readonly lines: Line[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;

  constructor(readonly name: string, configPath: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, ENTRY), "--config", configPath],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    this.#drained = Promise.all([
      this.#read(this.#child.stdout, true),
      this.#read(this.#child.stderr, false),
    ])
      .then(() => {});
  }

  async #read(stream: ReadableStream<Uint8Array>, parse: boolean): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      for (const part of parts) {
        if (!parse) {
          if (part.trim().length > 0 && Deno.env.get("VERBOSE")) {
            console.error(`[${this.name}] ${part}`);
          }
          continue;
        }
        try {
          const fields: unknown = JSON.parse(part);
          if (typeof fields === "object" && fields !== null) {
            this.lines.push({ atMs: Date.now(), fields: fields as Record<string, unknown> });
          }
        } catch {
          // not a JSON line
        }
      }
    }
  }

  /** First time at or after `sinceMs` this node logged `event` about `member`. */
  loggedAt(event: string, member: string, sinceMs = 0): number | undefined {
    return this.lines.find((l) =>
      l.atMs >= sinceMs && l.fields.event === event && l.fields.member === member
    )?.atMs;
  }

  logged(event: string, member: string): boolean {
    return this.loggedAt(event, member) !== undefined;
  }

  /** SIGKILL (kill -9) and wait for the exit. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#child.status;
    await this.#drained;
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen({ host: "127.0.0.1", port: 0 }, () => r()));
    const addr = s.address();
    if (typeof addr === "object" && addr !== null) ports.push(addr.port);
    servers.push(s);
  }
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  return ports;
}

async function waitUntil(what: string, predicate: () => boolean, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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
      for (let i = 0; i < 5; i++) procs.push(new NodeProcess(`node${i}`, configs[i]));
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
        ),
      );
      procs.push(
        new NodeProcess("other-env", writeConfig(6, "other", "s3cret", ids.slice(0, 5).join(","))),
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
      procs[victim] = new NodeProcess(`node${victim}-restarted`, configs[victim]);
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
      // No live node was ever declared dead.
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
