/**
 * Configuration of the membership protocol and of the node-to-node transport.
 * Defaults follow hashicorp/memberlist's `DefaultLANConfig`; each field states
 * its trade-off. Durations are in milliseconds, sizes in bytes.
 *
 * @module
 */

/** Tunables of the SWIM/Lifeguard membership core. */
export interface MembershipConfig {
  /**
   * Interval between failure-detection probes (one member per interval, round robin).
   * Lower detects failures faster at the cost of more traffic. Default 1000.
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking `indirectChecks` members to probe.
   * Should exceed the 99th percentile round trip. Default 500.
   */
  probeTimeoutMs: number;
  /**
   * Number of members asked to probe a target that missed its direct ack. More reduces
   * false positives caused by a single bad path, at the cost of traffic. Default 3.
   */
  indirectChecks: number;
  /**
   * Suspicion timeout multiplier: the minimum timeout is
   * `suspicionMult * max(1, log10(n)) * probeIntervalMs`. Higher means fewer false
   * positives and slower detection. Default 4. Also sets the number of independent
   * confirmations that shrink the timeout (`suspicionMult - 2`, Lifeguard).
   */
  suspicionMult: number;
  /**
   * Upper bound of the suspicion timeout as a multiple of its minimum, used while no
   * independent confirmation has arrived (Lifeguard). Default 6.
   */
  suspicionMaxTimeoutMult: number;
  /**
   * Each broadcast is piggybacked `retransmitMult * ceil(log10(n + 1))` times. Higher
   * spreads news more reliably under loss, at the cost of bytes. Default 4.
   */
  retransmitMult: number;
  /** Interval between gossip rounds. Lower spreads faster, costs packets. Default 200. */
  gossipIntervalMs: number;
  /** Members gossiped to per round. Default 3. */
  gossipNodes: number;
  /**
   * How long after a member is declared dead we keep gossiping to it, so that a
   * falsely accused member hears the news and refutes. Default 30000.
   */
  gossipToTheDeadMs: number;
  /**
   * Interval of full-state push-pull anti-entropy with one random live member (scaled up
   * above 32 members as in memberlist). 0 disables. Default 30000.
   */
  pushPullIntervalMs: number;
  /**
   * Interval at which one member believed dead is contacted with a push-pull, so that a
   * healed partition merges again (serf's reconnect). 0 disables. Default 10000.
   */
  reconnectIntervalMs: number;
  /**
   * Interval between join attempts through the seed endpoints while no seed has answered
   * (and while this node knows no live member). Default 1000.
   */
  joinRetryIntervalMs: number;
  /**
   * Maximum local-health multiplier (Lifeguard): probe interval and timeout are scaled by
   * `score + 1` while this node misses acks/nacks, so a slow node accuses less. Default 8.
   */
  awarenessMaxMultiplier: number;
  /**
   * Budget of one membership packet including piggybacked broadcasts (memberlist keeps
   * UDP packets under 1400 bytes). Larger carries more news per packet. Default 1400.
   */
  maxPacketBytes: number;
  /**
   * Bound of the broadcast queue. When full, the most retransmitted broadcast is dropped
   * (it has spread the most; anti-entropy repairs what is lost). Default 1024.
   */
  maxQueuedBroadcasts: number;
  /** Bound of the encoded node metadata; a larger update is rejected. Default 512. */
  maxMetadataBytes: number;
  /**
   * Dead members are forgotten after this long (reconnect attempts stop). Default 24 h,
   * as serf's `ReconnectTimeout`.
   */
  deadMemberRetentionMs: number;
  /** Members that left gracefully are forgotten after this long. Default 24 h. */
  leftMemberRetentionMs: number;
  /** Bound of the member table; news about further members is dropped. Default 4096. */
  maxMembers: number;
  /**
   * Bound of concurrently relayed indirect probes; further requests are ignored (the
   * origin then counts a missed nack). Default 64.
   */
  maxPendingRelays: number;
  /**
   * On a graceful leave, how long to keep gossiping the departure before closing
   * (memberlist's LeavePropagateDelay). Longer reaches more members under loss. Default 1000.
   */
  leavePropagateMs: number;
}

/** memberlist's LAN profile (plus the serf-style reconnect and our bounds). */
export function defaultMembershipConfig(): MembershipConfig {
  return {
    probeIntervalMs: 1000,
    probeTimeoutMs: 500,
    indirectChecks: 3,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 4,
    gossipIntervalMs: 200,
    gossipNodes: 3,
    gossipToTheDeadMs: 30_000,
    pushPullIntervalMs: 30_000,
    reconnectIntervalMs: 10_000,
    joinRetryIntervalMs: 1000,
    awarenessMaxMultiplier: 8,
    maxPacketBytes: 1400,
    maxQueuedBroadcasts: 1024,
    maxMetadataBytes: 512,
    deadMemberRetentionMs: 24 * 3600_000,
    leftMemberRetentionMs: 24 * 3600_000,
    maxMembers: 4096,
    maxPendingRelays: 64,
    leavePropagateMs: 1000,
  };
}

/** Tunables of the authenticated TCP transport. */
export interface TransportConfig {
  /**
   * Largest accepted frame (after the 4-byte length prefix). A peer announcing more is
   * disconnected before anything is buffered. Default 4 MiB.
   */
  maxFrameBytes: number;
  /**
   * Bound of bytes queued per peer while the connection is being (re)established or the
   * socket is congested; `send` returns false (backpressure) beyond it. Default 8 MiB.
   */
  maxQueuedBytesPerPeer: number;
  /** Bound of frames queued per peer (same overflow behaviour). Default 10000. */
  maxQueuedFramesPerPeer: number;
  /** First reconnect delay after a failed dial. Default 100. */
  reconnectInitialDelayMs: number;
  /**
   * Cap of the exponential reconnect back-off. Lower finds restarted peers faster but
   * dials dead ones more often (a membership `alive` resets it anyway). Default 1000.
   */
  reconnectMaxDelayMs: number;
  /** Time allowed for TCP connect plus the authentication handshake. Default 3000. */
  handshakeTimeoutMs: number;
  /** Bound of connections still in the handshake; further ones are closed. Default 64. */
  maxPendingHandshakes: number;
  /** Bound of requests awaiting a response per peer; more are rejected. Default 1024. */
  maxInflightRequestsPerPeer: number;
  /** Bound of requests being served per inbound connection; more get an error. Default 1024. */
  maxServingRequestsPerConnection: number;
}

/** Defaults of {@link TransportConfig}. */
export function defaultTransportConfig(): TransportConfig {
  return {
    maxFrameBytes: 4 * 1024 * 1024,
    maxQueuedBytesPerPeer: 8 * 1024 * 1024,
    maxQueuedFramesPerPeer: 10_000,
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 1000,
    handshakeTimeoutMs: 3000,
    maxPendingHandshakes: 64,
    maxInflightRequestsPerPeer: 1024,
    maxServingRequestsPerConnection: 1024,
  };
}

function checkPositive(name: string, value: number, allowZero = false): void {
  const ok = Number.isFinite(value) && (allowZero ? value >= 0 : value > 0);
  if (!ok) {
    throw new RangeError(`${name} must be ${allowZero ? ">= 0" : "> 0"}, got ${value}`);
  }
}

/** Merges overrides into the defaults and validates every field. */
export function resolveMembershipConfig(
  overrides: Partial<MembershipConfig> = {},
): MembershipConfig {
  const config = { ...defaultMembershipConfig(), ...overrides };
  const zeroAllowed = new Set(["pushPullIntervalMs", "reconnectIntervalMs", "indirectChecks"]);
  for (const [key, value] of Object.entries(config)) {
    checkPositive(`membership.${key}`, value, zeroAllowed.has(key));
  }
  if (config.probeTimeoutMs > config.probeIntervalMs) {
    throw new RangeError(
      `membership.probeTimeoutMs (${config.probeTimeoutMs}) must not exceed probeIntervalMs (${config.probeIntervalMs})`,
    );
  }
  if (config.suspicionMult < 2) {
    throw new RangeError(`membership.suspicionMult must be >= 2, got ${config.suspicionMult}`);
  }
  if (config.suspicionMaxTimeoutMult < 1) {
    throw new RangeError(
      `membership.suspicionMaxTimeoutMult must be >= 1, got ${config.suspicionMaxTimeoutMult}`,
    );
  }
  return config;
}

/** Merges overrides into the defaults and validates every field. */
export function resolveTransportConfig(overrides: Partial<TransportConfig> = {}): TransportConfig {
  const config = { ...defaultTransportConfig(), ...overrides };
  for (const [key, value] of Object.entries(config)) checkPositive(`transport.${key}`, value);
  if (config.reconnectMaxDelayMs < config.reconnectInitialDelayMs) {
    throw new RangeError(
      `transport.reconnectMaxDelayMs (${config.reconnectMaxDelayMs}) must be >= reconnectInitialDelayMs (${config.reconnectInitialDelayMs})`,
    );
  }
  return config;
}
