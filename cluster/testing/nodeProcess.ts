/**
 * Helpers to run node processes and read their JSON log lines (multi-process tests
 * and measurements). Every process is killed by its own handle, never by name.
 *
 * @module
 */

import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** One JSON log line and when it was read. */
export interface Line {
  atMs: number;
  fields: Record<string, unknown>;
}

/** A node process whose stdout JSON lines are collected. */
export class NodeProcess {
  readonly lines: Line[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;

  /** Spawns `deno run -A ENTRY --config configPath` (ENTRY relative to the repo root). */
  constructor(readonly name: string, configPath: string, entry: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, entry), "--config", configPath],
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

  /** Whether this node ever logged `event` about `member`. */
  logged(event: string, member: string): boolean {
    return this.loggedAt(event, member) !== undefined;
  }

  /** Sends `signal` (e.g. SIGSTOP / SIGCONT to pause and resume the process). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** SIGTERM (graceful stop); waits up to `maxMs` for the exit, then SIGKILL. */
  async terminate(maxMs: number): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already exited
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), maxMs))),
    ]);
    clearTimeout(timer);
    if (!exited) await this.kill();
    await this.#drained;
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

/**
 * Writes the YAML config of test node `i` (cluster on 127.0.0.1:`port`, seeds
 * `seeds[0]` and `seeds[1]`, MQTT TCP on an ephemeral port, data under `dir`)
 * and returns its path.
 */
export function writeNodeConfig(dir: string, i: number, port: number, seeds: string[]): string {
  const path = join(dir, `node${i}.yaml`);
  Deno.writeTextFileSync(
    path,
    `clusterConfig: { env: test, host: 127.0.0.1, port: ${port}, seedEndpoints: "${seeds[0]},${
      seeds[1]
    }", secret: s3cret }\n` +
      `mqttServiceConfig: { tcpListener: { enable: true, host: 127.0.0.1, port: 0 }, wsListener: { enable: false } }\n` +
      `stateStoreConfig: { dataDir: ${join(dir, `data${i}`)} }\n`,
  );
  return path;
}

/** `n` ports that were free a moment ago on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
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

/** Polls `predicate` every 50 ms; throws after `maxMs`. */
export async function waitUntil(
  what: string,
  predicate: () => boolean,
  maxMs: number,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
