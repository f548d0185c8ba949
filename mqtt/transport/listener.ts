/**
 * Listener implementation (placeholder until the network layer lands).
 *
 * @module
 */
import type { StartListener } from "./types.ts";

/** Starts one listener; see {@link StartListener}. */
export const startListener: StartListener = (kind) => {
  return Promise.reject(new Error(`listener kind ${kind} is not implemented yet`));
};
