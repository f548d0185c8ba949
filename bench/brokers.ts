/**
 * Start and stop the brokers under test, pinned to core 0 (`taskset -c 0`),
 * each on a free loopback port with a fresh temporary data directory, and
 * measure start-up time to the first CONNACK.
 *
 * @module
 */
import { encodeConnect } from "./wire.ts";

/** Brokers the bench knows how to run. */
export const BROKER_KINDS = ["edgemq", "mosquitto"] as const;

/** One of {@link BROKER_KINDS}. */
export type BrokerKind = typeof BROKER_KINDS[number];

/** Where mosquitto is looked for (Debian package). */
export const MOSQUITTO_PATH = "/usr/sbin/mosquitto";

/** CPU core of the broker; the load generator takes the other one. */
export const BROKER_CORE = 0;

/** How long a broker may take to accept its first CONNECT before the bench gives up. */
export const STARTUP_TIMEOUT_MS = 30_000;

/** A broker process started by {@link startBroker}. */
export interface RunningBroker {
  /** Which broker. */
  readonly kind: BrokerKind;
  /** PID of the broker process itself (the shell exec's into it). */
  readonly pid: number;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Spawn → first CONNACK, ms. */
  readonly startupMs: number;
  /** Its stdout/stderr. */
  readonly logPath: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp directory. */
  stop(): Promise<void>;
}

/** Whether mosquitto is installed. */
export function mosquittoInstalled(): boolean {
  try {
    return Deno.statSync(MOSQUITTO_PATH).isFile;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (bound, read and released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** edgemq's bench configuration: one TCP listener, generous limits. */
export function edgemqConfigYaml(port: number, dataDir: string): string {
  return [
    "mqttServiceConfig:",
    `  tcpListener: { enable: true, host: 127.0.0.1, port: ${port} }`,
    "  wsListener: { enable: false }",
    "  allowAnonymous: true",
    "  limits:",
    "    maxConnections: 1000000",
    "    maxConnectsPerSecond: 10000000",
    "    maxQueuedMessagesPerSession: 10000000",
    "stateStoreConfig:",
    `  dataDir: ${JSON.stringify(dataDir)}`,
    "log: { level: warn }",
    "",
  ].join("\n");
}

/**
 * mosquitto's bench configuration: Debian defaults except an unlimited
 * per-client queue (the default 1000 would drop in the persistent scenario) and
 * persistence on (mosquitto keeps it in memory and only saves on exit or
 * autosave; it has no per-message fsync).
 */
export function mosquittoConf(port: number, dataDir: string): string {
  return [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    "user root",
    "max_queued_messages 0",
    "persistence true",
    `persistence_location ${dataDir}/`,
    "log_type error",
    "log_type warning",
    "",
  ].join("\n");
}

/**
 * Start a broker and wait for a CONNECT to be answered.
 * @param kind which broker
 * @param repoRoot edgemq repository root (cwd of `deno run -A main.ts`)
 * @param edgemqBinary a compiled edgemq (`deno task compile`) to run instead of `deno run -A main.ts`
 */
export async function startBroker(
  kind: BrokerKind,
  repoRoot: string,
  edgemqBinary?: string,
): Promise<RunningBroker> {
  const dir = await Deno.makeTempDir({ prefix: `bench-${kind}-` });
  const port = freePort();
  const logPath = `${dir}/broker.log`;
  let argv: string[];
  if (kind === "edgemq") {
    const cfg = `${dir}/edgemq.yaml`;
    await Deno.writeTextFile(cfg, edgemqConfigYaml(port, `${dir}/data`));
    argv = edgemqBinary !== undefined
      ? [edgemqBinary, "--config", cfg]
      : [Deno.execPath(), "run", "-A", "main.ts", "--config", cfg];
  } else {
    const cfg = `${dir}/mosquitto.conf`;
    await Deno.writeTextFile(cfg, mosquittoConf(port, dir));
    argv = [MOSQUITTO_PATH, "-c", cfg];
  }
  // bash raises the fd limit, then exec's taskset, which exec's the broker: one PID throughout.
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ' +
    `exec taskset -c ${BROKER_CORE} "$@" >"$BENCH_LOG" 2>&1`;
  const t0 = performance.now();
  const child = new Deno.Command("bash", {
    args: ["-c", script, "bash", ...argv],
    cwd: repoRoot,
    env: { BENCH_LOG: logPath },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async (): Promise<void> => {
    try {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000));
        const res = await Promise.race([status, timeout]);
        if (res === "timeout") {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
          await status;
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  try {
    const deadline = t0 + STARTUP_TIMEOUT_MS;
    // Poll every 5 ms; bounded by the deadline.
    for (;;) {
      if (exited) throw new Error(`${kind} exited during start-up; log:\n${await tail(logPath)}`);
      if (await probeConnack(port)) break;
      if (performance.now() > deadline) {
        throw new Error(`${kind} gave no CONNACK within ${STARTUP_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const startupMs = performance.now() - t0;
    return { kind, pid: child.pid, port, startupMs, logPath, alive: () => !exited, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Last lines of a log file, for error messages. */
export async function tail(path: string, lines = 20): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** One TCP connect + CONNECT; true when a successful CONNACK came back within 1 s. */
export async function probeConnack(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), 1000);
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const connect = encodeConnect({ clientId: "bench-probe", clean: true, keepaliveSeconds: 10 });
    await conn.write(new Uint8Array(connect.buffer, connect.byteOffset, connect.length));
    const buf = new Uint8Array(4);
    let got = 0;
    while (got < 4) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) return false;
      got += n;
    }
    return buf[0] === 0x20 && buf[3] === 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}
