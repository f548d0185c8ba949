/**
 * Configuration: YAML file + environment system variables, validated.
 *
 * @module
 */
export {
  configFromValues,
  type EdgemqConfig,
  hasAuthentication,
  isLoopbackHost,
  loadConfig,
  parseYaml,
} from "./loadConfig.ts";
export { BALANCER_NAMES, edgemqSchema, type FileConfig } from "./edgemqSchema.ts";
export { ConfigError } from "./schemaSpec.ts";
export {
  readSystemVariables,
  type SystemVariables,
  systemVariableSpecs,
} from "./systemVariables.ts";
export { renderConfigurationReference } from "./reference.ts";
