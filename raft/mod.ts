/**
 * Public surface of the Raft package: the pure core (RawNode), its types and
 * errors, and the async driver.
 *
 * @module
 */

export * from "./storage/logStorage.ts";
export * from "./core/types.ts";
export * from "./core/errors.ts";
export * from "./core/config.ts";
export { RawNode } from "./core/rawNode.ts";
export { BOOTSTRAP_INDEX, bootstrapSnapshot, simpleConfState } from "./core/bootstrap.ts";
export { decodeConfChange, encodeConfChange } from "./core/confChangeCodec.ts";
export { InvalidMessageError, parseMessage } from "./core/messageCodec.ts";
export {
  type AddGroupOptions,
  RaftDriver,
  type RaftDriverOptions,
  type RaftDriverStats,
} from "./driver/driver.ts";
export type { RaftEnvelope, RaftReceiveHandler, RaftTransport } from "./driver/transport.ts";
export {
  MemoryNetwork,
  type MemoryNetworkOptions,
  MemoryTransport,
} from "./driver/memoryTransport.ts";
export type { StateMachine } from "./driver/stateMachine.ts";
