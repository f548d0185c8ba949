/**
 * edgemq command line.
 *
 *   deno run -A main.ts [--config FILE]     run a node (embedded defaults without a file)
 *   deno run -A main.ts passwd FILE USER    add or update a user in a password file
 *   deno run -A main.ts --help
 *
 * @module
 */
import { ConfigError, loadConfig } from "./config/mod.ts";
import { createJsonLogger } from "./log/jsonLog.ts";
import { readPasswordFromEnvOrStdin, runPasswdCommand } from "./mqtt/auth/mod.ts";
import { startNode } from "./node.ts";

const USAGE = `edgemq — an MQTT broker cluster in one binary

Usage:
  edgemq [--config FILE]        run a node; without --config, embedded defaults:
                                MQTT/TCP 127.0.0.1:1883, MQTT/WS 127.0.0.1:8080/mqtt,
                                anonymous clients (loopback only), data in ./data
  edgemq passwd [--tenant TENANT] [--iterations N] FILE USER
                                add or update USER in password FILE (password from
                                $EDGEMQ_PASSWORD, else prompted without echo / stdin;
                                "TENANT/USER" also puts the user in a tenant)
  edgemq passwd --delete FILE USER
                                remove USER from FILE
  edgemq --help                 this text

Configuration keys: docs/configuration.md. System variables (environment),
e.g. inbox_store_range_voter_count=3, are listed there too.
Logs are JSON lines on stdout. SIGTERM or SIGINT shuts down gracefully.`;

function parseArgs(args: string[]): { configPath: string | null } | { error: string } {
  let configPath: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--config" || a === "-c") {
      const v = args[++i];
      if (v === undefined) return { error: `${a} needs a FILE argument` };
      configPath = v;
    } else if (a.startsWith("--config=")) {
      configPath = a.slice("--config=".length);
    } else {
      return { error: `unknown argument ${JSON.stringify(a)}` };
    }
  }
  return { configPath };
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (args[0] === "passwd") {
    const log = createJsonLogger();
    return await runPasswdCommand(args.slice(1), {
      readPassword: readPasswordFromEnvOrStdin,
      log,
    });
  }
  const parsed = parseArgs(args);
  if ("error" in parsed) {
    console.error(`edgemq: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  let log = createJsonLogger();
  let config;
  try {
    config = await loadConfig(parsed.configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error("config.invalid", { key: err.key, message: err.message });
      console.error(`edgemq: configuration error: ${err.message}`);
      return 1;
    }
    throw err;
  }
  log = createJsonLogger({ minLevel: config.log.level });
  // Signal handlers go in before the node starts, so a stop request that
  // arrives during start-up still ends in a graceful shutdown.
  const stopped = Promise.withResolvers<number>();
  const stopRequested = Promise.withResolvers<string>();
  const onTerm = () => stopRequested.resolve("SIGTERM");
  const onInt = () => stopRequested.resolve("SIGINT");
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  try {
    let node;
    try {
      node = await startNode(config, log);
    } catch (err) {
      if (err instanceof ConfigError) {
        log.error("config.invalid", { key: err.key, message: err.message });
        console.error(`edgemq: configuration error: ${err.message}`);
        return 1;
      }
      log.error("node.start_failed", { error: err });
      console.error(`edgemq: cannot start: ${(err as Error).message}`);
      return 1;
    }
    const started = node;
    stopRequested.promise.then((signal) => {
      log.info("node.stopping", { signal });
      const timeoutMs = config.system.store_shutdown_timeout_ms;
      const timer = setTimeout(() => {
        log.error("node.stop_timeout", { timeoutMs });
        stopped.resolve(1);
      }, timeoutMs);
      started.close().then(
        () => {
          clearTimeout(timer);
          log.info("node.stopped");
          stopped.resolve(0);
        },
        (err) => {
          clearTimeout(timer);
          log.error("node.stop_failed", { error: err });
          stopped.resolve(1);
        },
      );
    });
    return await stopped.promise;
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInt);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
