/**
 * Broker process harness for the end-to-end tests.
 *
 * Starts a real broker process — edgemq (`deno run -A main.ts --config FILE`) or,
 * to validate the tests themselves, mosquitto — on loopback, learns its ports, and
 * stops it (SIGTERM, or SIGKILL for crash tests). Select the broker with the
 * environment variable `EDGEMQ_TEST_BROKER=edgemq|mosquitto` (default edgemq).
 *
 * @module
 */

import { stringify } from "yaml";
import { createServer } from "node:net";
import { runCommand } from "./process.ts";

/** Which broker the suite drives. */
export type BrokerMode = "edgemq" | "mosquitto";

/** The broker selected by `EDGEMQ_TEST_BROKER` (default `edgemq`). */
export const BROKER_MODE: BrokerMode = Deno.env.get("EDGEMQ_TEST_BROKER") === "mosquitto"
  ? "mosquitto"
  : "edgemq";

/** True when the suite runs against mosquitto: edgemq-only tests are ignored. */
export const IS_MOSQUITTO = BROKER_MODE === "mosquitto";

/** Repository root (the parent of tests/). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** Path of the edgemq entry point. */
export const MAIN_TS = `${REPO_ROOT}main.ts`;

/** Broker limits, as in the edgemq YAML `mqttServiceConfig.limits`. */
export interface BrokerLimits {
  maxPacketBytes?: number;
  maxQueuedMessagesPerSession?: number;
  maxInflightOutbound?: number;
  receiveMaximum?: number;
  maxTopicBytes?: number;
  maxTopicLevels?: number;
  maxSubscriptionsPerSession?: number;
  maxFiltersPerSubscribe?: number;
  maxClientIdBytes?: number;
  maxConnections?: number;
  maxConnectsPerSecond?: number;
  connectTimeoutMs?: number;
  topicAliasMaximum?: number;
  maxSessionExpirySeconds?: number;
  queueOverflowPolicy?: "drop-newest" | "drop-oldest";
  maxRetainedMessagesPerTenant?: number;
  writeHighWaterMarkBytes?: number;
  maxWriteBufferBytes?: number;
}

/** One ACL rule of `mqttServiceConfig.acl`. */
export interface AclRule {
  user?: string;
  clientId?: string;
  action: "publish" | "subscribe" | "all";
  topic: string;
  allow: boolean;
}

/** PEM files of the TLS and WSS listeners. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
  requireClientCert?: boolean;
}

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** Reuse this data directory (restart tests). Default: a fresh temp dir. */
  dataDir?: string;
  /** Fixed TCP port (restart tests). Default: any free port. */
  tcpPort?: number;
  /** Fixed WebSocket port. Default: any free port. */
  wsPort?: number;
  /** Start the WebSocket listener. Default true. */
  ws?: boolean;
  /** Start the TLS and WSS listeners with these PEM files. Default: off. */
  tls?: TlsFiles;
  /** Fixed TLS port (with tls). */
  tlsPort?: number;
  /** Fixed WSS port (with tls). */
  wssPort?: number;
  /** `mqttServiceConfig.allowAnonymous`. Default true. */
  allowAnonymous?: boolean;
  /** `mqttServiceConfig.maxKeepAliveSeconds`. Default 60. */
  maxKeepAliveSeconds?: number;
  /** `mqttServiceConfig.passwordFile`. */
  passwordFile?: string;
  /** `mqttServiceConfig.acl`. */
  acl?: AclRule[];
  /** `mqttServiceConfig.aclDefault`. */
  aclDefault?: "allow" | "deny";
  /** More `mqttServiceConfig` keys (edgemq only), e.g. `jwtAuth`, `certificateAuth`. */
  extraMqtt?: Record<string, unknown>;
  /** Overrides of `mqttServiceConfig.limits`. */
  limits?: BrokerLimits;
  /** Extra environment variables for the broker process. */
  env?: Record<string, string>;
  /** How long to wait for readiness. Default 30 s. */
  startTimeoutMs?: number;
  /**
   * Accept "error"-level broker log lines. Default false: `stop()` fails the test when
   * edgemq logged any, since client misbehaviour must not produce internal errors.
   */
  allowErrorLogs?: boolean;
}

/** A parsed JSON log line of edgemq (or a wrapped text line of mosquitto). */
export interface LogLine {
  event?: string;
  level?: string;
  [key: string]: unknown;
}

/** A running broker process. */
export interface BrokerHandle {
  readonly mode: BrokerMode;
  readonly pid: number;
  readonly tcpPort: number;
  /** WebSocket port (path `/mqtt`), or undefined when not enabled. */
  readonly wsPort: number | undefined;
  /** TLS port, or undefined when not enabled. */
  readonly tlsPort: number | undefined;
  /** Secure WebSocket port (path `/mqtt`), or undefined when not enabled. */
  readonly wssPort: number | undefined;
  readonly dataDir: string;
  /** Every stdout/stderr line so far (mosquitto lines as `{event:"text", text}`). */
  readonly logs: LogLine[];
  /** The options it was started with (with resolved ports), for a restart. */
  readonly options: BrokerOptions;
  /** True while the process has not exited. */
  alive(): boolean;
  /** Resident set size of the broker process in KiB, from /proc/PID/status. */
  rssKb(): Promise<number>;
  /**
   * Send signal (default SIGTERM) and wait for exit (SIGKILL after 10 s); returns the
   * exit code. `keepData` keeps a temp data dir for a restart (the caller removes it).
   */
  stop(opts?: { keepData?: boolean; signal?: Deno.Signal }): Promise<number>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
  /** Wait until a log line matches, bounded by timeoutMs. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
}

/** Find a free loopback TCP port (bind to 0 and release). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Sleep for ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The edgemq YAML config object for options (ports resolved by the caller). */
export function edgemqConfig(o: BrokerOptions, dataDir: string): Record<string, unknown> {
  const mqtt: Record<string, unknown> = {
    tcpListener: { enable: true, host: "127.0.0.1", port: o.tcpPort ?? 0 },
    wsListener: { enable: o.ws !== false, host: "127.0.0.1", port: o.wsPort ?? 0, path: "/mqtt" },
    allowAnonymous: o.allowAnonymous ?? true,
    maxKeepAliveSeconds: o.maxKeepAliveSeconds ?? 60,
  };
  if (o.tls !== undefined) {
    const files = {
      certFile: o.tls.certFile,
      keyFile: o.tls.keyFile,
      ...(o.tls.caFile !== undefined ? { caFile: o.tls.caFile } : {}),
      requireClientCert: o.tls.requireClientCert ?? false,
    };
    mqtt.tlsListener = { enable: true, host: "127.0.0.1", port: o.tlsPort ?? 0, ...files };
    mqtt.wssListener = {
      enable: true,
      host: "127.0.0.1",
      port: o.wssPort ?? 0,
      path: "/mqtt",
      ...files,
    };
  }
  if (o.passwordFile !== undefined) mqtt.passwordFile = o.passwordFile;
  if (o.acl !== undefined) mqtt.acl = o.acl;
  if (o.aclDefault !== undefined) mqtt.aclDefault = o.aclDefault;
  if (o.limits !== undefined) mqtt.limits = { ...o.limits };
  if (o.extraMqtt !== undefined) Object.assign(mqtt, o.extraMqtt);
  return {
    mqttServiceConfig: mqtt,
    stateStoreConfig: { dataDir },
    log: { level: "info" },
  };
}

function mosquittoConf(
  o: BrokerOptions,
  dataDir: string,
  tcp: number,
  ws?: number,
  tls?: number,
  wss?: number,
): string {
  const lines = [
    "per_listener_settings false",
    "allow_duplicate_messages false",
    `allow_anonymous ${o.allowAnonymous === false ? "false" : "true"}`,
    `max_keepalive ${o.maxKeepAliveSeconds ?? 60}`,
    "persistence true",
    `persistence_location ${dataDir}/`,
    // mosquitto only saves to disk periodically; save on every change so that the
    // kill -9 test is meaningful for the validation run.
    "autosave_interval 1",
    "autosave_on_changes true",
    "log_dest stdout",
    // as root, mosquitto drops to user "mosquitto" and then cannot write the temp dir
    ...(Deno.uid() === 0 ? ["user root"] : []),
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    `listener ${tcp} 127.0.0.1`,
  ];
  const l = o.limits ?? {};
  if (l.maxPacketBytes !== undefined) lines.push(`max_packet_size ${l.maxPacketBytes}`);
  if (l.receiveMaximum !== undefined) lines.push(`max_inflight_messages ${l.receiveMaximum}`);
  if (l.maxQueuedMessagesPerSession !== undefined) {
    lines.push(`max_queued_messages ${l.maxQueuedMessagesPerSession}`);
  }
  if (l.topicAliasMaximum !== undefined) lines.push(`max_topic_alias ${l.topicAliasMaximum}`);
  if (o.passwordFile !== undefined) lines.push(`password_file ${o.passwordFile}`);
  if (ws !== undefined) lines.push(`listener ${ws} 127.0.0.1`, "protocol websockets");
  if (o.tls !== undefined) {
    const files = [
      `certfile ${o.tls.certFile}`,
      `keyfile ${o.tls.keyFile}`,
      ...(o.tls.caFile !== undefined ? [`cafile ${o.tls.caFile}`] : []),
      `require_certificate ${o.tls.requireClientCert ? "true" : "false"}`,
    ];
    lines.push(`listener ${tls} 127.0.0.1`, ...files);
    lines.push(`listener ${wss} 127.0.0.1`, "protocol websockets", ...files);
  }
  return lines.join("\n") + "\n";
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
    if (buf.length > 0) onLine(buf);
  } finally {
    reader.releaseLock();
  }
}

function parseLine(line: string): LogLine {
  const t = line.trim();
  if (t.startsWith("{")) {
    try {
      const v: unknown = JSON.parse(t);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as LogLine;
    } catch {
      // not JSON: fall through
    }
  }
  return { event: "text", text: line };
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a broker (edgemq or mosquitto per {@link BROKER_MODE}) and wait until it
 * accepts connections. Always pair with `stop()` or `kill9()` in a finally block.
 * In edgemq mode a missing main.ts is an error, not a skip.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<BrokerHandle> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "edgemq-e2e-" });
  const confDir = await Deno.makeTempDir({ prefix: "edgemq-e2e-conf-" });
  const wantWs = options.ws !== false;
  let tcpPort = options.tcpPort;
  let wsPort = options.wsPort;
  let tlsPort = options.tlsPort;
  let wssPort = options.wssPort;
  let cmd: Deno.Command;
  if (BROKER_MODE === "edgemq") {
    try {
      await Deno.stat(MAIN_TS);
    } catch {
      throw new Error(`edgemq entry point ${MAIN_TS} does not exist (EDGEMQ_TEST_BROKER=edgemq)`);
    }
    const file = `${confDir}/edgemq.yaml`;
    await Deno.writeTextFile(file, stringify(edgemqConfig(options, dataDir)));
    cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN_TS, "--config", file],
      cwd: REPO_ROOT,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  } else {
    tcpPort ??= await freePort();
    if (wantWs) wsPort ??= await freePort();
    if (options.tls !== undefined) {
      tlsPort ??= await freePort();
      wssPort ??= await freePort();
    }
    const file = `${confDir}/mosquitto.conf`;
    await Deno.writeTextFile(
      file,
      mosquittoConf(options, dataDir, tcpPort, wantWs ? wsPort : undefined, tlsPort, wssPort),
    );
    cmd = new Deno.Command("/usr/sbin/mosquitto", {
      args: ["-c", file],
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  }
  const child = cmd.spawn();
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string) => {
    if (line.trim() === "") return;
    logs.push(parseLine(line));
    for (const w of [...waiters]) w();
  };
  const readers = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
  let exited = false;
  let exitCode = -1;
  const status = child.status.then((s) => {
    exited = true;
    exitCode = s.code;
    for (const w of [...waiters]) w();
    return s;
  });

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> => {
    return new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const hit = logs.find(pred);
        if (hit !== undefined) {
          cleanup();
          resolve(hit);
        } else if (exited) {
          cleanup();
          reject(new Error(`broker exited (code ${exitCode}) before the expected log line`));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching broker log line within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  };

  const finish = async (): Promise<number> => {
    const s = await status;
    await readers;
    // EDGEMQ_TEST_LOGS=1 prints the broker's warnings and errors (=all: every line).
    const dump = Deno.env.get("EDGEMQ_TEST_LOGS");
    if (dump !== undefined) {
      for (const l of logs) {
        if (dump === "all" || l.level === "warn" || l.level === "error" || l.event === "text") {
          console.error(`[broker ${child.pid}] ${JSON.stringify(l)}`);
        }
      }
    }
    await Deno.remove(confDir, { recursive: true }).catch(() => {});
    if (ownDir && !keepDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    return s.code;
  };
  let keepDir = false;
  const checkErrorLogs = () => {
    if (BROKER_MODE !== "edgemq" || options.allowErrorLogs) return;
    const errors = logs.filter((l) => l.level === "error");
    if (errors.length > 0) {
      throw new Error(
        `broker logged ${errors.length} error line(s):\n${
          errors.slice(0, 5).map((l) => JSON.stringify(l)).join("\n")
        }`,
      );
    }
  };

  const handle = {
    mode: BROKER_MODE,
    pid: child.pid,
    tcpPort: 0,
    wsPort: undefined as number | undefined,
    tlsPort: undefined as number | undefined,
    wssPort: undefined as number | undefined,
    dataDir,
    logs,
    options: { ...options },
    alive: () => !exited,
    rssKb: async (): Promise<number> => {
      const text = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(text);
      if (m === null) throw new Error(`no VmRSS in /proc/${child.pid}/status`);
      return Number(m[1]);
    },
    stop: async (opts: { keepData?: boolean; signal?: Deno.Signal } = {}): Promise<number> => {
      if (opts.keepData) keepDir = true;
      if (!exited) {
        try {
          child.kill(opts.signal ?? "SIGTERM");
        } catch { /* already gone */ }
        const t = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 10_000);
        try {
          const code = await finish();
          checkErrorLogs();
          return code;
        } finally {
          clearTimeout(t);
        }
      }
      const code = await finish();
      checkErrorLogs();
      return code;
    },
    kill9: async (): Promise<void> => {
      keepDir = true; // a crash test restarts on the same directory and removes it itself
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await finish();
    },
    waitForLog,
  };

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  try {
    if (BROKER_MODE === "edgemq") {
      await waitForLog((l) => l.event === "node.ready", timeoutMs);
      const tcp = logs.find((l) => l.event === "listener.started" && l.listener === "tcp");
      if (tcp === undefined || typeof tcp.port !== "number") {
        throw new Error("edgemq logged node.ready without a listener.started line for tcp");
      }
      tcpPort = tcp.port;
      const ws = logs.find((l) => l.event === "listener.started" && l.listener === "ws");
      if (wantWs) {
        if (ws === undefined || typeof ws.port !== "number") {
          throw new Error("edgemq logged node.ready without a listener.started line for ws");
        }
        wsPort = ws.port;
      }
      if (options.tls !== undefined) {
        const portOf = (name: string) => {
          const l = logs.find((x) => x.event === "listener.started" && x.listener === name);
          if (l === undefined || typeof l.port !== "number") {
            throw new Error(`edgemq logged node.ready without a listener.started line for ${name}`);
          }
          return l.port;
        };
        tlsPort = portOf("tls");
        wssPort = portOf("wss");
      }
    } else {
      const deadline = Date.now() + timeoutMs;
      const ports = [
        tcpPort!,
        ...(wantWs ? [wsPort!] : []),
        ...(tlsPort !== undefined ? [tlsPort, wssPort!] : []),
      ];
      while (!(await Promise.all(ports.map(canConnect))).every((x) => x)) {
        if (exited) throw new Error(`mosquitto exited with code ${exitCode}`);
        if (Date.now() > deadline) throw new Error("mosquitto did not open its port in time");
        await sleep(50);
      }
    }
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await finish();
    const tail = logs.slice(-20).map((l) => JSON.stringify(l)).join("\n");
    throw new Error(`${(e as Error).message}\nbroker output:\n${tail}`);
  }
  handle.tcpPort = tcpPort!;
  handle.wsPort = wantWs ? wsPort : undefined;
  handle.tlsPort = options.tls !== undefined ? tlsPort : undefined;
  handle.wssPort = options.tls !== undefined ? wssPort : undefined;
  handle.options.tlsPort = tlsPort;
  handle.options.wssPort = wssPort;
  handle.options.tcpPort = tcpPort;
  handle.options.wsPort = wsPort;
  handle.options.dataDir = dataDir;
  return handle;
}

/**
 * Run the broker CLI to completion (e.g. `--help`, a bad config) with a time bound,
 * returning its exit code and combined output. edgemq mode only.
 */
export async function runCli(
  args: string[],
  env?: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number; output: string }> {
  await Deno.stat(MAIN_TS);
  return await runCommand(Deno.execPath(), ["run", "-A", MAIN_TS, ...args], timeoutMs, {
    cwd: REPO_ROOT,
    env,
  });
}

/** Run `fn` with a broker, stopping it afterwards even when fn throws. */
export async function withBroker<T>(
  options: BrokerOptions,
  fn: (b: BrokerHandle) => Promise<T>,
): Promise<T> {
  const b = await startBroker(options);
  try {
    return await fn(b);
  } finally {
    await b.stop();
  }
}

/**
 * A test step that runs against edgemq only (ignored in mosquitto mode): for
 * edgemq-specific behaviour or where mosquitto itself deviates from the spec.
 */
export function edgemqStep(
  t: Deno.TestContext,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Promise<boolean> {
  return t.step({ name, ignore: IS_MOSQUITTO, fn });
}

/**
 * Add USER with PASSWORD to a password file: `main.ts passwd FILE USER` with
 * EDGEMQ_PASSWORD for edgemq, `mosquitto_passwd -b` for mosquitto.
 */
export async function addPasswordUser(file: string, user: string, password: string): Promise<void> {
  if (BROKER_MODE === "edgemq") {
    const r = await runCli(["passwd", file, user], { EDGEMQ_PASSWORD: password });
    if (r.code !== 0) throw new Error(`passwd ${user} exited ${r.code}: ${r.output}`);
    return;
  }
  const exists = await Deno.stat(file).then(() => true, () => false);
  const out = await new Deno.Command("mosquitto_passwd", {
    args: [...(exists ? [] : ["-c"]), "-b", file, user, password],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`mosquitto_passwd exited ${out.code}`);
}
