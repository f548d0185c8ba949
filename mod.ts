/**
 * edgemq's public API: start a node from a configuration, programmatically.
 *
 * ```ts
 * import { configFromValues, createJsonLogger, startNode } from "./mod.ts";
 * const node = await startNode(configFromValues({ stateStoreConfig: { dataDir: "/tmp/d" } }, {}),
 *   createJsonLogger());
 * await node.close();
 * ```
 *
 * @module
 */
export { type EdgemqNode, startNode } from "./node.ts";
export { ConfigError, configFromValues, type EdgemqConfig, loadConfig } from "./config/mod.ts";
export { createJsonLogger, type Logger, silentLogger } from "./log/jsonLog.ts";
