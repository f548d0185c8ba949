/**
 * Validation of listener configuration and transport limits, with errors
 * that name the field and the value.
 *
 * @module
 */

import type { ListenerConfig, ListenerKind, TransportLimits } from "./types.ts";

/** Throws a clear error for an unusable listener configuration. */
export function validateListenerConfig(kind: ListenerKind, config: ListenerConfig): void {
  if (!config.enable) throw new Error(`${kind} listener is disabled (enable: false)`);
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    throw new Error(`${kind} listener port must be an integer 0..65535, got ${config.port}`);
  }
  if (typeof config.host !== "string" || config.host === "") {
    throw new Error(`${kind} listener host must be a non-empty string, got ${String(config.host)}`);
  }
  if (config.path !== undefined && !config.path.startsWith("/")) {
    throw new Error(`${kind} listener path must start with "/", got ${config.path}`);
  }
}

/** Throws a clear error for a limit that is not a positive finite integer. */
export function validateLimits(limits: TransportLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (value === undefined && name === "endLingerMs") continue;
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`transport limit ${name} must be a positive integer, got ${value}`);
    }
  }
  if (limits.maxPacketBytes < 2) {
    throw new Error(`transport limit maxPacketBytes must be >= 2, got ${limits.maxPacketBytes}`);
  }
  if (limits.writeHighWaterMarkBytes > limits.maxWriteBufferBytes) {
    throw new Error(
      `writeHighWaterMarkBytes (${limits.writeHighWaterMarkBytes}) must not exceed ` +
        `maxWriteBufferBytes (${limits.maxWriteBufferBytes})`,
    );
  }
}
