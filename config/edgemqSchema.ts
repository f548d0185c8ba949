/**
 * The schema of edgemq's YAML configuration. Every key, its default, its
 * bounds and what it trades off are stated here once; docs/configuration.md
 * is generated from it (`deno run -A config/reference.ts`).
 *
 * @module
 */
import type { EnumSpec, Fields, IntSpec, ObjectSpec, Spec, ValueOf } from "./schemaSpec.ts";

const U32 = 4294967295;

function int(def: number, min: number, max: number, doc: string): IntSpec {
  return { kind: "int", default: def, min, max, doc };
}
function section<F extends Fields>(fields: F, doc: string): ObjectSpec<F> {
  return { kind: "object", fields, doc };
}

function baseListener(name: string, enable: boolean, port: number) {
  return {
    enable: { kind: "bool", default: enable, doc: `Run the ${name} listener.` },
    host: {
      kind: "string",
      default: "127.0.0.1",
      nonEmpty: true,
      doc:
        "Address to bind. A non-loopback address requires authentication (passwordFile) or allowAnonymous: true.",
    },
    port: int(port, 0, 65535, "Port to bind; 0 picks a free port (logged in `listener.started`)."),
  } as const;
}

const wsPath = {
  kind: "string",
  default: "/mqtt",
  nonEmpty: true,
  doc: "HTTP path of the WebSocket endpoint (subprotocol `mqtt`).",
} as const;

const tlsFields = {
  certFile: { kind: "optString", doc: "PEM certificate chain of the server (required)." },
  keyFile: { kind: "optString", doc: "PEM private key of the server (required)." },
  caFile: { kind: "optString", doc: "PEM CA bundle used to verify client certificates." },
  requireClientCert: {
    kind: "bool",
    default: false,
    doc: "Reject clients without a certificate signed by caFile (mutual TLS).",
  },
} as const;

const aclRule = section({
  tenant: { kind: "optString", doc: "Only for clients of this tenant (unset: any tenant)." },
  user: { kind: "optString", doc: "Only for this user name (unset: any user)." },
  clientId: { kind: "optString", doc: "Only for this client id (unset: any client)." },
  action: {
    kind: "enum",
    values: ["publish", "subscribe", "all"],
    default: "all",
    doc: "What the rule governs; `subscribe` also governs delivery.",
  } as EnumSpec<"publish" | "subscribe" | "all">,
  topic: {
    kind: "string",
    default: undefined,
    nonEmpty: true,
    doc: "Topic pattern with MQTT wildcards; `%u` is the user name, `%c` the client id.",
  },
  allow: { kind: "bool", default: true, doc: "Allow (true) or deny (false) on a match." },
}, "One ACL rule; the first rule that matches decides.");

/** Balancer names accepted in `balanceConfig.balancers` (short and the seed's long names). */
export const BALANCER_NAMES: readonly string[] = (() => {
  const short = [
    "ReplicaCntBalancer",
    "RangeSplitBalancer",
    "RangeLeaderBalancer",
    "RecoveryBalancer",
  ];
  const long: string[] = [];
  for (const pkg of ["inbox.store", "dist.worker", "retain.store"]) {
    for (const s of short) long.push(`com.baidu.bifromq.${pkg}.balance.${s}Factory`);
  }
  return [...short, ...long];
})();

function storeSection(name: string) {
  return section({
    balanceConfig: section({
      balancers: {
        kind: "list",
        item: { kind: "string", default: undefined, nonEmpty: true, doc: "Balancer name." },
        maxItems: 16,
        allowed: BALANCER_NAMES,
        doc:
          `Balancers of the ${name} ranges (cluster mode). RecoveryBalancer is opt-in and may lose data.`,
      },
    }, `Balancing of the ${name} ranges.`),
  }, `The ${name} store.`);
}

/** The whole configuration file. */
export const edgemqSchema = section({
  clusterConfig: {
    kind: "optObject",
    doc: "Cluster membership (seed: base-cluster). Absent: a single standalone node.",
    fields: {
      env: {
        kind: "string",
        default: "prod",
        nonEmpty: true,
        doc: "Cluster environment name; nodes of another env never join.",
      },
      host: {
        kind: "string",
        default: undefined,
        nonEmpty: true,
        doc: "Address the other nodes can reach this node at.",
      },
      port: int(8899, 1, 65535, "Cluster port (membership and node-to-node RPC)."),
      seedEndpoints: {
        kind: "endpoints",
        doc: "Where a new node asks to join: all nodes' host:port, or one proxy address.",
      },
      secret: {
        kind: "string",
        default: undefined,
        nonEmpty: true,
        doc: "Shared secret every node proves (HMAC challenge-response) before it is admitted.",
      },
      membership: {
        kind: "intMap",
        doc:
          "Overrides of the SWIM/Lifeguard tunables (memberlist LAN defaults), e.g. `{ probeIntervalMs: 1000, suspicionMult: 4 }`. Names, defaults and trade-offs: cluster/config.ts `MembershipConfig` (listed in docs/high-availability.md); an unknown name stops start-up.",
      },
      transport: {
        kind: "intMap",
        doc:
          "Overrides of the node-to-node transport limits, e.g. `{ maxFrameBytes: 4194304 }`. Names and defaults: cluster/config.ts `TransportConfig`; an unknown name stops start-up.",
      },
    },
  },
  mqttServiceConfig: section({
    tcpListener: section(baseListener("MQTT over TCP", true, 1883), "MQTT/TCP."),
    tlsListener: section(
      { ...baseListener("MQTT over TLS", false, 8883), ...tlsFields },
      "MQTT/TLS.",
    ),
    wsListener: section(
      { ...baseListener("MQTT over WebSocket", true, 8080), path: wsPath },
      "MQTT/WS.",
    ),
    wssListener: section(
      { ...baseListener("MQTT over secure WebSocket", false, 8443), path: wsPath, ...tlsFields },
      "MQTT/WSS.",
    ),
    allowAnonymous: {
      kind: "optBool",
      doc:
        "Accept clients without credentials. Unset: allowed only while every enabled listener is bound to loopback and no authentication (passwordFile, jwtAuth, certificateAuth) is configured.",
    },
    maxKeepAliveSeconds: int(
      3600,
      1,
      65535,
      "Server keep-alive cap: a v5 client asking for more, or for 0, gets this value in CONNACK; a v3 client asking for more is disconnected after 1.5 × this value of silence.",
    ),
    passwordFile: {
      kind: "optString",
      doc: "Password file (salted PBKDF2 hashes) created with `main.ts passwd FILE USER`.",
    },
    jwtAuth: {
      kind: "optObject",
      doc:
        "Accept a JSON Web Token as the CONNECT password (HS256/384/512 with a secret, or RS/PS/ES/EdDSA with a public key). Absent: off.",
      fields: {
        hmacSecretFile: {
          kind: "optString",
          doc: "File holding the HMAC secret (at least 32 bytes).",
        },
        publicKeyFile: { kind: "optString", doc: "PEM (SPKI) public key file." },
        issuer: { kind: "optString", doc: "Required `iss` claim (unset: not checked)." },
        audience: { kind: "optString", doc: "Required `aud` claim (unset: not checked)." },
        tenantClaim: {
          kind: "string",
          default: "tenant",
          nonEmpty: true,
          doc: "Claim naming the tenant (absent claim: tenant `default`).",
        },
        requireExpiry: { kind: "bool", default: true, doc: "Refuse tokens without `exp`." },
        usernameMustMatchSubject: {
          kind: "bool",
          default: false,
          doc: "Refuse a CONNECT whose user name is set and differs from `sub`.",
        },
      },
    },
    certificateAuth: {
      kind: "optObject",
      doc:
        "Authenticate TLS/WSS clients by a client certificate that chains to caFile: user = subject CN. Absent: off.",
      fields: {
        tenantFromOrganization: {
          kind: "bool",
          default: false,
          doc: "Tenant = subject O (else tenant `default`).",
        },
        usernameMustMatchCN: {
          kind: "bool",
          default: false,
          doc: "Refuse a CONNECT whose user name is set and differs from the CN.",
        },
      },
    },
    acl: {
      kind: "list",
      item: aclRule,
      maxItems: 10000,
      doc: "Access rules for publish, subscribe and delivery; first match wins.",
    },
    v5SubscribeDeniedReasonCode: {
      kind: "enum",
      values: ["0x87", "0x80"],
      default: "0x87",
      doc:
        "SUBACK reason code for a v5 subscription the ACL denies: 0x87 Not authorized, or 0x80 Unspecified error (what some interoperability suites expect). v3 clients always get 0x80.",
    } as EnumSpec<"0x87" | "0x80">,
    aclDefault: {
      kind: "enum",
      values: ["allow", "deny"],
      default: "allow",
      doc: "Decision when no ACL rule matches.",
    } as EnumSpec<"allow" | "deny">,
    limits: section({
      maxPacketBytes: int(
        1048576,
        64,
        268435460,
        "Largest MQTT packet accepted, checked on the fixed header before buffering. Over: v5 DISCONNECT 0x95, v3 close.",
      ),
      receiveMaximum: int(
        64,
        1,
        65535,
        "Unacknowledged QoS 1/2 PUBLISHes a client may send (v5 CONNACK Receive Maximum). Over: DISCONNECT 0x93.",
      ),
      maxInflightOutbound: int(
        64,
        1,
        65535,
        "Unacknowledged QoS 1/2 messages sent to one client (also capped by its Receive Maximum); the rest wait in its queue.",
      ),
      maxQueuedMessagesPerSession: int(
        1000,
        1,
        10000000,
        "Messages queued for one session (offline or behind its in-flight window). Over: queueOverflowPolicy applies.",
      ),
      queueOverflowPolicy: {
        kind: "enum",
        values: ["drop-newest", "drop-oldest"],
        default: "drop-newest",
        doc:
          "What a full session queue drops: the arriving message (publisher still acknowledged) or the oldest queued one.",
      } as EnumSpec<"drop-newest" | "drop-oldest">,
      maxTopicBytes: int(
        1024,
        1,
        65535,
        "Longest topic name or filter in bytes. Over: PUBLISH → v5 DISCONNECT 0x90 / v3 close; SUBSCRIBE → SUBACK 0x80 / 0x8F.",
      ),
      maxTopicLevels: int(
        32,
        1,
        1024,
        "Most levels in a topic or filter. Over: as maxTopicBytes.",
      ),
      maxSubscriptionsPerSession: int(
        1000,
        1,
        1000000,
        "Subscriptions one session may hold. Over: SUBACK 0x80 (v5 0x97 quota exceeded) for the extra filters.",
      ),
      maxFiltersPerSubscribe: int(
        100,
        1,
        10000,
        "Filters in one SUBSCRIBE. Over: the connection is closed (v5 DISCONNECT 0x97).",
      ),
      maxClientIdBytes: int(
        256,
        23,
        65535,
        "Longest client identifier. Over: CONNACK 0x02 (v5 0x85 client identifier not valid).",
      ),
      maxConnections: int(
        100000,
        1,
        10000000,
        "Concurrent connections per listener. Over: the new connection is closed at once.",
      ),
      maxConnectsPerSecond: int(
        20000,
        1,
        10000000,
        "New connections accepted per second per listener. Over: the new connection is closed at once.",
      ),
      connectTimeoutMs: int(
        10000,
        100,
        600000,
        "Time a new connection has to complete CONNECT. Over: closed.",
      ),
      topicAliasMaximum: int(
        64,
        0,
        65535,
        "Topic aliases a v5 client may use towards the broker (CONNACK Topic Alias Maximum). Alias 0 or above: DISCONNECT 0x94.",
      ),
      maxSessionExpirySeconds: int(
        U32,
        0,
        U32,
        "Cap on session expiry (v5 interval; v3 persistent sessions never expire unless capped). 4294967295 = never.",
      ),
      maxRetainedPerSubscribe: int(
        1000,
        1,
        10000000,
        "Retained messages sent for one subscribed filter; the rest are not sent.",
      ),
      maxWillDelaySeconds: int(
        86400,
        0,
        4294967295,
        "Cap on a v5 will delay interval; larger values are reduced to it.",
      ),
      maxRetainedMessagesPerTenant: int(
        100000,
        1,
        100000000,
        "Retained topics per tenant. Over: the new retained message is not stored (v5 PUBACK 0x97).",
      ),
      writeHighWaterMarkBytes: int(
        65536,
        1024,
        67108864,
        "Bytes buffered for a client before it counts as congested: the publishers sending to it stop being read until it drains (backpressure).",
      ),
      slowSubscriberMs: int(
        2000,
        1,
        600000,
        "A subscriber congested for longer than this is slow: its publishers are read again and QoS 0 messages to it are dropped (counted) until it drains; QoS 1/2 wait in its queue.",
      ),
      qos0DropBufferedBytes: int(
        1048576,
        1024,
        1073741824,
        "QoS 0 messages to a client with more unsent bytes than this are dropped (counted) even before it counts as slow. Keep it below maxWriteBufferBytes.",
      ),
      maxWriteBufferBytes: int(
        8388608,
        65536,
        1073741824,
        "Bytes buffered for one client before it is disconnected as a slow consumer.",
      ),
    }, "Limits; each states what a client sees when it hits it."),
  }, "MQTT listeners, authentication, ACL and limits."),
  stateStoreConfig: section({
    dataDir: {
      kind: "string",
      default: "./data",
      nonEmpty: true,
      doc: "Directory of the SQLite stores (created if absent).",
    },
    durability: {
      kind: "enum",
      values: ["async", "full"],
      default: "async",
      doc:
        "How store writes reach the disk; in both modes a write (and so a PUBACK) completes only after fsync. `full`: SQLite synchronous=FULL, the flush blocks the event loop. `async`: the WAL is fdatasync'ed off the event loop and checkpoints run fully synced; same guarantee, higher throughput.",
    } as EnumSpec<"async" | "full">,
    distWorkerConfig: storeSection("dist (subscription routes)"),
    inboxStoreConfig: storeSection("inbox (persistent sessions)"),
    retainStoreConfig: storeSection("retain (retained messages)"),
  }, "Durable state."),
  apiServerConfig: section({
    enable: { kind: "bool", default: false, doc: "Run the HTTP admin API." },
    host: { kind: "string", default: "127.0.0.1", nonEmpty: true, doc: "Admin API address." },
    port: int(8091, 0, 65535, "Admin API port."),
    allowRemote: {
      kind: "bool",
      default: false,
      doc:
        "The admin API has no authentication: a non-loopback host is refused unless this is true (then keep it behind a firewall or an authenticating proxy).",
    },
  }, "HTTP admin API (health, metrics, status)."),
  log: section({
    level: {
      kind: "enum",
      values: ["debug", "info", "warn", "error"],
      default: "info",
      doc: "Lowest level written to stdout (JSON lines).",
    } as EnumSpec<"debug" | "info" | "warn" | "error">,
  }, "Logging."),
}, "edgemq configuration");

/** The file part of a validated configuration. */
export type FileConfig = ValueOf<typeof edgemqSchema>;

/** Any spec, re-exported for the reference generator. */
export type { Spec };
