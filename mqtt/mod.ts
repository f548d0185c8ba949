/**
 * The MQTT protocol layer: protocol sessions (3.1, 3.1.1, 5.0) and the broker
 * core. Give `broker.handler` to the transport's `startListener`.
 *
 * @module
 */
export { createMqttBroker } from "./broker/broker.ts";
export type { MqttBroker, MqttBrokerDeps, MqttBrokerStats } from "./broker/broker.ts";
export { defaultMqttBrokerOptions } from "./broker/options.ts";
export type { MqttBrokerOptions } from "./broker/options.ts";
export type { AclContext, BrokerCounters, MqttAcl } from "./session/context.ts";
