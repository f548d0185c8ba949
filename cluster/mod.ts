/**
 * Cluster membership (SWIM + Lifeguard) and the authenticated node-to-node transport.
 *
 * @module
 */

export {
  type ClusterNode,
  type ClusterNodeOptions,
  MEMBERSHIP_CHANNEL,
  startClusterNode,
} from "./clusterNode.ts";
export {
  defaultMembershipConfig,
  defaultTransportConfig,
  type MembershipConfig,
  resolveMembershipConfig,
  resolveTransportConfig,
  type TransportConfig,
} from "./config.ts";
export type { MemberState, NodeMetadata } from "./messages.ts";
export type { MemberInfo, MembershipEvent } from "./membership.ts";
export {
  isEndpoint,
  type MessageHandler,
  parseEndpoint,
  PeerUnavailableError,
  QueueFullError,
  RemoteError,
  type RequestHandler,
  RequestTimeoutError,
  type Transport,
} from "./transport.ts";
export { MemoryNetwork, MemoryTransport } from "./memoryTransport.ts";
export { listenTcpTransport, TcpTransport } from "./tcpTransport.ts";
