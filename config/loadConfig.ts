/**
 * Loading the configuration: a YAML file (optional) plus system variables
 * from the environment, validated into one {@link EdgemqConfig}.
 *
 * @module
 */
import YAML from "yaml";
import { edgemqSchema, type FileConfig } from "./edgemqSchema.ts";
import { ConfigError, validate } from "./schemaSpec.ts";
import { readSystemVariables, type SystemVariables } from "./systemVariables.ts";

/** The validated configuration of one node. */
export interface EdgemqConfig extends FileConfig {
  readonly system: SystemVariables;
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h.startsWith("127.") || h === "::1" || h === "[::1]";
}

/** True when some way of authenticating clients is configured. */
export function hasAuthentication(file: FileConfig): boolean {
  const m = file.mqttServiceConfig;
  return m.passwordFile !== null || m.jwtAuth !== null || m.certificateAuth !== null;
}

/** Cross-field rules the schema cannot express. */
function checkConsistency(file: FileConfig): void {
  const m = file.mqttServiceConfig;
  const listeners = [
    ["tcpListener", m.tcpListener],
    ["tlsListener", m.tlsListener],
    ["wsListener", m.wsListener],
    ["wssListener", m.wssListener],
  ] as const;
  const enabled = listeners.filter(([, l]) => l.enable);
  if (enabled.length === 0) {
    throw new ConfigError("mqttServiceConfig", "no listener is enabled");
  }
  for (
    const [name, l] of [["tlsListener", m.tlsListener], ["wssListener", m.wssListener]] as const
  ) {
    if (!l.enable) continue;
    if (l.certFile === null) {
      throw new ConfigError(`mqttServiceConfig.${name}.certFile`, "is required when enabled");
    }
    if (l.keyFile === null) {
      throw new ConfigError(`mqttServiceConfig.${name}.keyFile`, "is required when enabled");
    }
    if (l.requireClientCert && l.caFile === null) {
      throw new ConfigError(
        `mqttServiceConfig.${name}.caFile`,
        "is required when requireClientCert is true",
      );
    }
  }
  const ports = new Map<string, string>();
  for (const [name, l] of enabled) {
    if (l.port === 0) continue;
    const at = `${l.host}:${l.port}`;
    const other = ports.get(at);
    if (other !== undefined) {
      throw new ConfigError(`mqttServiceConfig.${name}.port`, `${at} is also used by ${other}`);
    }
    ports.set(at, name);
  }
  if (
    m.jwtAuth !== null && (m.jwtAuth.hmacSecretFile === null) === (m.jwtAuth.publicKeyFile === null)
  ) {
    throw new ConfigError(
      "mqttServiceConfig.jwtAuth",
      "set exactly one of hmacSecretFile and publicKeyFile",
    );
  }
  if (m.certificateAuth !== null && !(m.tlsListener.enable || m.wssListener.enable)) {
    throw new ConfigError(
      "mqttServiceConfig.certificateAuth",
      "needs an enabled tlsListener or wssListener with caFile",
    );
  }
  if (m.allowAnonymous !== true && !hasAuthentication(file)) {
    const exposed = enabled.find(([, l]) => !isLoopbackHost(l.host));
    if (exposed !== undefined) {
      throw new ConfigError(
        `mqttServiceConfig.${exposed[0]}.host`,
        `listener on non-loopback address ${
          JSON.stringify(exposed[1].host)
        } without authentication: set mqttServiceConfig.passwordFile (or jwtAuth, certificateAuth), or allowAnonymous: true explicitly`,
      );
    }
  }
  if (m.limits.qos0DropBufferedBytes >= m.limits.maxWriteBufferBytes) {
    throw new ConfigError(
      "mqttServiceConfig.limits.qos0DropBufferedBytes",
      `${m.limits.qos0DropBufferedBytes} must be below maxWriteBufferBytes (${m.limits.maxWriteBufferBytes})`,
    );
  }
  const api = file.apiServerConfig;
  if (api.enable && !api.allowRemote && !isLoopbackHost(api.host)) {
    throw new ConfigError(
      "apiServerConfig.host",
      `admin API on non-loopback address ${
        JSON.stringify(api.host)
      } has no authentication: set apiServerConfig.allowRemote: true explicitly`,
    );
  }
  for (const [i, rule] of m.acl.entries()) {
    if (rule.topic.includes("#") && !/(^|\/)#$/.test(rule.topic)) {
      throw new ConfigError(
        `mqttServiceConfig.acl[${i}].topic`,
        `invalid filter ${JSON.stringify(rule.topic)}: '#' must be the last level`,
      );
    }
  }
}

/** Validates already-parsed YAML (`undefined` for no file) and environment. */
export function configFromValues(
  fileValue: unknown,
  env: Record<string, string | undefined>,
): EdgemqConfig {
  const file = validate(edgemqSchema, fileValue ?? {}, "");
  checkConsistency(file);
  return { ...file, system: readSystemVariables(env) };
}

/** Parses YAML text; errors name the file and position. */
export function parseYaml(text: string, fileName: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ConfigError(fileName, `invalid YAML: ${e.message}`);
  }
  return doc.toJS();
}

/**
 * Loads the configuration from `path` (or embedded defaults when null) and
 * the environment. Throws ConfigError naming the key or variable.
 */
export async function loadConfig(
  path: string | null,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<EdgemqConfig> {
  if (path === null) return configFromValues(undefined, env);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(path, `cannot read config file: ${(err as Error).message}`);
  }
  return configFromValues(parseYaml(text, path), env);
}
