/**
 * MQTT network layer: listeners (TCP, TLS, WS, WSS), the frame guard, and
 * connection limits.
 *
 * @module
 */

export * from "./types.ts";
export { startListener } from "./listener.ts";
