/**
 * The network interface of the Raft driver. One transport per node carries
 * the messages of every group, batched per peer.
 *
 * @module
 */

import type { GroupId, ReplicaId } from "../storage/logStorage.ts";
import type { Message } from "../core/types.ts";

/** A Raft message tagged with its group (the multiplexing unit on a link). */
export interface RaftEnvelope {
  readonly groupId: GroupId;
  readonly message: Message;
}

/** Receives batches from peers. */
export type RaftReceiveHandler = (from: ReplicaId, batch: readonly RaftEnvelope[]) => void;

/**
 * Sends batches of Raft messages between nodes. Delivery is best effort:
 * messages may be lost, duplicated or reordered (Raft tolerates it); a send
 * never throws and never blocks.
 */
export interface RaftTransport {
  /** Sends one batch (all messages for `to` from one driver iteration). */
  send(to: ReplicaId, batch: readonly RaftEnvelope[]): void;
  /** Installs the handler for incoming batches (replaces any previous one). */
  onReceive(handler: RaftReceiveHandler): void;
  /** Stops sending and receiving. */
  close(): void;
}
