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
