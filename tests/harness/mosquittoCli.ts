/**
 * Wrappers around the mosquitto_pub / mosquitto_sub command-line clients, with
 * bounded run times and clean process shutdown.
 *
 * @module
 */

import type { BrokerHandle } from "./broker.ts";
import { runCommand } from "./process.ts";
import { Waiters } from "./waiters.ts";

/** Protocol version flag of the mosquitto clients (`-V`). */
export type MosqVersion = "mqttv31" | "mqttv311" | "mqttv5";

/** Options shared by both clients. */
export interface MosqOptions {
  version: MosqVersion;
  /** Client id (`-i`). */
  id?: string;
  qos?: 0 | 1 | 2;
  user?: string;
  password?: string;
  /** More command-line arguments. */
  extra?: string[];
}

function commonArgs(b: BrokerHandle, o: MosqOptions): string[] {
  const a = ["-h", "127.0.0.1", "-p", String(b.tcpPort), "-V", o.version];
  if (o.id !== undefined) a.push("-i", o.id);
  if (o.qos !== undefined) a.push("-q", String(o.qos));
  if (o.user !== undefined) a.push("-u", o.user);
  if (o.password !== undefined) a.push("-P", o.password);
  return a;
}

/**
 * Run mosquitto_pub to completion (killed after timeoutMs); returns its exit code
 * and output. `message` null sends a zero-length payload (`-n`).
 */
export async function mosqPub(
  b: BrokerHandle,
  topic: string,
  message: string | null,
  o: MosqOptions & { retain?: boolean },
  timeoutMs = 10_000,
): Promise<{ code: number; output: string }> {
  const args = [...commonArgs(b, o), "-t", topic];
  if (message === null) args.push("-n");
  else args.push("-m", message);
  if (o.retain) args.push("-r");
  args.push(...(o.extra ?? []));
  return await runCommand("mosquitto_pub", args, timeoutMs);
}

/** A message printed by mosquitto_sub. */
export interface MosqMessage {
  qos: number;
  retain: boolean;
  topic: string;
  payload: string;
}

/** A running mosquitto_sub process. */
export class MosqSub {
  readonly lines: string[] = [];
  readonly messages: MosqMessage[] = [];
  #waiters = new Waiters();
  #exited = false;
  #exitCode = -1;
  #done: Promise<void>;

  private constructor(readonly child: Deno.ChildProcess) {
    const status = child.status.then((s) => {
      this.#exited = true;
      this.#exitCode = s.code;
      this.#wake();
    });
    const read = async (stream: ReadableStream<Uint8Array>) => {
      let buf = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          this.#line(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
        }
      }
      if (buf.length > 0) this.#line(buf);
    };
    this.#done = Promise.all([status, read(child.stdout), read(child.stderr)]).then(() => {});
  }

  /**
   * Start mosquitto_sub on a filter and wait for its SUBACK (debug output).
   * `clean: false` adds `-c` (and `-x 300` for v5 so the session outlives the connection).
   */
  static async start(
    b: BrokerHandle,
    filter: string,
    o: MosqOptions & { clean?: boolean },
    timeoutMs = 5_000,
  ): Promise<MosqSub> {
    const args = [...commonArgs(b, o), "-t", filter, "-d", "-F", "MSG %q %r %t %p"];
    if (o.clean === false) {
      args.push("-c");
      if (o.version === "mqttv5") args.push("-x", "300");
    }
    args.push(...(o.extra ?? []));
    // stdbuf: mosquitto_sub block-buffers stdout into a pipe, hiding SUBACK and messages.
    const child = new Deno.Command("stdbuf", {
      args: ["-oL", "mosquitto_sub", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const sub = new MosqSub(child);
    try {
      await sub.#waitFor(
        () => sub.lines.some((l) => /received SUBACK/i.test(l)),
        timeoutMs,
        "SUBACK",
      );
    } catch (e) {
      await sub.stop("SIGKILL");
      throw new Error(`${(e as Error).message}; output: ${sub.lines.join(" | ")}`);
    }
    return sub;
  }

  /** Exit code once exited, else undefined. */
  get exitCode(): number | undefined {
    return this.#exited ? this.#exitCode : undefined;
  }

  /** Wait until count messages in total arrived; throws after timeoutMs. */
  async waitCount(count: number, timeoutMs = 5_000): Promise<MosqMessage[]> {
    await this.#waitFor(() => this.messages.length >= count, timeoutMs, `${count} messages`);
    return this.messages.slice(0, count);
  }

  /** Stop the process (SIGTERM by default, SIGKILL for an abnormal close) and wait. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill(signal);
      } catch { /* gone */ }
    }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3_000);
    try {
      await this.#done;
    } finally {
      clearTimeout(t);
    }
  }

  #line(line: string): void {
    this.lines.push(line);
    const m = /^MSG (\d) (\d) (\S+) ?(.*)$/.exec(line);
    if (m !== null) {
      this.messages.push({ qos: Number(m[1]), retain: m[2] === "1", topic: m[3], payload: m[4] });
    }
    this.#wake();
  }

  #wake(): void {
    this.#waiters.wake();
  }

  #waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.#waiters.waitFor(cond, timeoutMs, what, {
      detail: () => `(have ${this.messages.length})`,
      abort: () =>
        this.#exited
          ? `mosquitto_sub exited (${this.#exitCode}) while waiting for ${what}`
          : undefined,
    });
  }
}
