/**
 * Standalone membership runner (measurements and the multi-process test while the
 * full node is not wired): reads `clusterConfig` from the same YAML as `main.ts`,
 * starts a cluster node, logs JSON lines to stdout, leaves gracefully on SIGTERM/SIGINT.
 *
 * Usage: `deno run -A cluster/main_membership.ts --config FILE`
 *
 * @module
 */

import { parse } from "yaml";
import { createJsonLogger } from "../log/jsonLog.ts";
import { startClusterNode } from "./clusterNode.ts";

function fail(message: string): never {
  console.error(`main_membership: ${message}`);
  Deno.exit(2);
}

function readClusterConfig(path: string): {
  env: string;
  host: string;
  port: number;
  seedEndpoints: string[];
  secret: string;
} {
  const doc: unknown = parse(Deno.readTextFileSync(path));
  if (typeof doc !== "object" || doc === null) fail(`${path}: not a YAML mapping`);
  const cc = (doc as Record<string, unknown>).clusterConfig;
  if (typeof cc !== "object" || cc === null) fail(`${path}: no clusterConfig section`);
  const c = cc as Record<string, unknown>;
  const str = (key: string): string => {
    const v = c[key];
    if (typeof v !== "string" || v.length === 0) {
      fail(`clusterConfig.${key} must be a non-empty string`);
    }
    return v;
  };
  const port = c.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`clusterConfig.port must be an integer in [0, 65535], got ${String(port)}`);
  }
  const rawSeeds = c.seedEndpoints ?? [];
  const seedEndpoints = typeof rawSeeds === "string"
    ? rawSeeds.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    : Array.isArray(rawSeeds)
    ? rawSeeds.map(String)
    : fail("clusterConfig.seedEndpoints must be a string or a list");
  return { env: str("env"), host: str("host"), port, seedEndpoints, secret: str("secret") };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--config");
  if (i < 0 || Deno.args[i + 1] === undefined) fail("usage: main_membership.ts --config FILE");
  const cc = readClusterConfig(Deno.args[i + 1]);
  const log = createJsonLogger({ minLevel: "info" });
  const node = await startClusterNode({
    ...cc,
    metadata: { mqttEndpoints: [], stores: [], load: {} },
  }, log);
  const stop = async () => {
    await node.leave();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
