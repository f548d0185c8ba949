/**
 * One edgemq node, wired together from a validated configuration: stores,
 * authentication, the MQTT broker core, its listeners, cluster membership
 * (when `clusterConfig` is present) and the admin API.
 *
 * @module
 */
import { ConfigError, type EdgemqConfig } from "./config/mod.ts";
import type { Logger } from "./log/jsonLog.ts";
import {
  type ListenerConfig,
  type ListenerKind,
  type RunningListener,
  startListener,
} from "./mqtt/transport/mod.ts";
import { createAcl } from "./mqtt/auth/mod.ts";
import { buildAuthenticator } from "./nodeAuth.ts";
import {
  createMqttBroker,
  defaultMqttBrokerOptions,
  type MqttBroker,
  type MqttBrokerOptions,
} from "./mqtt/mod.ts";
import { defaultLocalStoresConfig, type LocalStores, openLocalStores } from "./stores/mod.ts";
import {
  type ClusterNode,
  defaultMembershipConfig,
  defaultTransportConfig,
  resolveMembershipConfig,
  resolveTransportConfig,
  startClusterNode,
} from "./cluster/mod.ts";
import { type AdminApi, startAdminApi } from "./api/adminApi.ts";

/** A running node. */
export interface EdgemqNode {
  /** This node's id: its cluster endpoint in a cluster, else a stable id kept in the data dir. */
  readonly nodeId: string;
  readonly listeners: readonly RunningListener[];
  readonly broker: MqttBroker;
  readonly cluster: ClusterNode | null;
  /** Graceful shutdown: stop accepting, tell clients, flush stores, leave the cluster. */
  close(): Promise<void>;
}

async function stableLocalNodeId(dataDir: string): Promise<string> {
  const path = `${dataDir}/node-id`;
  try {
    const id = (await Deno.readTextFile(path)).trim();
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(id)) return id;
    throw new Error(`${path} holds an invalid node id ${JSON.stringify(id)}`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const id = `node-${crypto.randomUUID()}`;
  await Deno.writeTextFile(path, id + "\n");
  return id;
}

function brokerOptions(config: EdgemqConfig): MqttBrokerOptions {
  const m = config.mqttServiceConfig;
  const l = m.limits;
  return {
    ...defaultMqttBrokerOptions(),
    maxPacketBytes: l.maxPacketBytes,
    receiveMaximum: l.receiveMaximum,
    maxInflightOutbound: l.maxInflightOutbound,
    maxQueuedMessagesPerSession: l.maxQueuedMessagesPerSession,
    queueOverflowPolicy: l.queueOverflowPolicy,
    maxTopicBytes: l.maxTopicBytes,
    maxTopicLevels: l.maxTopicLevels,
    maxSubscriptionsPerSession: l.maxSubscriptionsPerSession,
    maxFiltersPerSubscribe: l.maxFiltersPerSubscribe,
    maxClientIdBytes: l.maxClientIdBytes,
    maxKeepAliveSeconds: m.maxKeepAliveSeconds,
    maxSessionExpirySeconds: l.maxSessionExpirySeconds,
    topicAliasMaximum: l.topicAliasMaximum,
    maxRetainedPerSubscribe: l.maxRetainedPerSubscribe,
    maxWillDelaySeconds: l.maxWillDelaySeconds,
    slowSubscriberMs: l.slowSubscriberMs,
    qos0DropBufferedBytes: l.qos0DropBufferedBytes,
    v5SubscribeDeniedReasonCode: m.v5SubscribeDeniedReasonCode === "0x80" ? 0x80 : 0x87,
  };
}

const LISTENERS: readonly [
  ListenerKind,
  "tcpListener" | "tlsListener" | "wsListener" | "wssListener",
][] = [
  ["tcp", "tcpListener"],
  ["tls", "tlsListener"],
  ["ws", "wsListener"],
  ["wss", "wssListener"],
];

function listenerConfig(config: EdgemqConfig, key: typeof LISTENERS[number][1]): ListenerConfig {
  const raw = config.mqttServiceConfig[key];
  const out: ListenerConfig = { enable: raw.enable, host: raw.host, port: raw.port };
  if ("path" in raw) out.path = raw.path;
  if ("certFile" in raw) {
    if (raw.certFile !== null) out.certFile = raw.certFile;
    if (raw.keyFile !== null) out.keyFile = raw.keyFile;
    if (raw.caFile !== null) out.caFile = raw.caFile;
    out.requireClientCert = raw.requireClientCert;
  }
  return out;
}

/**
 * The seed's default of one inbox voter loses persistent sessions with the
 * node that holds them: say so once the cluster has three or more members.
 */
function warnOnSingleInboxVoter(cluster: ClusterNode, inboxVoters: number, log: Logger): void {
  if (inboxVoters !== 1) return;
  let warned = false;
  const check = () => {
    const alive = cluster.members().filter((m) => m.state === "alive").length;
    if (warned || alive < 3) return;
    warned = true;
    log.warn("config.inbox_single_voter", {
      members: alive,
      message:
        "inbox_store_range_voter_count=1 in a cluster of 3 or more nodes: persistent sessions are not replicated; set it to 3 for high availability",
    });
  };
  cluster.onMembershipChange(check);
  check();
}

/**
 * Checks the YAML overrides of cluster tunables against the names the
 * cluster module knows and its bounds; errors name the YAML key.
 */
function clusterOverrides<T extends object>(
  key: string,
  overrides: Record<string, number>,
  defaults: T,
  resolve: (o: Partial<T>) => T,
): Partial<T> {
  const known = Object.keys(defaults);
  for (const name of Object.keys(overrides)) {
    if (!known.includes(name)) {
      throw new ConfigError(`${key}.${name}`, `unknown tunable (known: ${known.join(", ")})`);
    }
  }
  const partial = overrides as Partial<T>;
  try {
    resolve(partial);
  } catch (err) {
    throw new ConfigError(key, (err as Error).message);
  }
  return partial;
}

/** Starts a node. Rejects (after undoing what it started) if any part fails. */
export async function startNode(config: EdgemqConfig, log: Logger): Promise<EdgemqNode> {
  const cleanups: (() => Promise<void>)[] = [];
  const undo = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn("node.cleanup_failed", { error: err });
      }
    }
  };
  try {
    // Checked before anything starts, so a bad tunable leaves no trace.
    const clusterTunables = config.clusterConfig === null ? null : {
      membership: clusterOverrides(
        "clusterConfig.membership",
        config.clusterConfig.membership,
        defaultMembershipConfig(),
        resolveMembershipConfig,
      ),
      transport: clusterOverrides(
        "clusterConfig.transport",
        config.clusterConfig.transport,
        defaultTransportConfig(),
        resolveTransportConfig,
      ),
    };
    const dataDir = config.stateStoreConfig.dataDir;
    await Deno.mkdir(dataDir, { recursive: true });
    const nodeId = config.clusterConfig !== null
      ? `${config.clusterConfig.host}:${config.clusterConfig.port}`
      : await stableLocalNodeId(dataDir);

    const l = config.mqttServiceConfig.limits;
    const stores: LocalStores = await openLocalStores(dataDir, {
      ...defaultLocalStoresConfig(),
      synchronous: config.stateStoreConfig.durability === "full" ? "FULL" : "ASYNC",
      inbox: {
        ...defaultLocalStoresConfig().inbox,
        maxQueuedMessages: l.maxQueuedMessagesPerSession,
        overflowPolicy: l.queueOverflowPolicy,
        maxSubscriptions: l.maxSubscriptionsPerSession,
      },
      retain: {
        ...defaultLocalStoresConfig().retain,
        maxRetainedPerTenant: l.maxRetainedMessagesPerTenant,
      },
    });
    cleanups.push(() => stores.close());
    const removed = await stores.dist.removeTransientRoutesOfNode(nodeId);
    if (removed > 0) log.info("dist.transient_routes_removed", { nodeId, count: removed });

    const authenticator = await buildAuthenticator(config, log);
    const acl = createAcl({
      rules: config.mqttServiceConfig.acl.map((r) => ({
        ...(r.tenant !== null ? { tenant: r.tenant } : {}),
        ...(r.user !== null ? { user: r.user } : {}),
        ...(r.clientId !== null ? { clientId: r.clientId } : {}),
        action: r.action,
        topic: r.topic,
        allow: r.allow,
      })),
      aclDefault: config.mqttServiceConfig.aclDefault,
    });
    const broker = createMqttBroker(brokerOptions(config), {
      nodeId,
      dist: stores.dist,
      inbox: stores.inbox,
      retain: stores.retain,
      sessions: stores.sessions,
      authenticator,
      acl,
      log: log,
    });
    broker.start();
    cleanups.push(() => broker.close());

    const listeners: RunningListener[] = [];
    const limits = {
      maxPacketBytes: l.maxPacketBytes,
      connectTimeoutMs: l.connectTimeoutMs,
      maxConnections: l.maxConnections,
      maxConnectsPerSecond: l.maxConnectsPerSecond,
      writeHighWaterMarkBytes: l.writeHighWaterMarkBytes,
      maxWriteBufferBytes: l.maxWriteBufferBytes,
    };
    for (const [kind, key] of LISTENERS) {
      const lc = listenerConfig(config, key);
      if (!lc.enable) continue;
      const running = await startListener(kind, lc, limits, broker.handler, log);
      listeners.push(running);
      cleanups.push(() => running.close());
      log.info("listener.started", { listener: kind, host: running.host, port: running.port });
    }

    let cluster: ClusterNode | null = null;
    if (config.clusterConfig !== null) {
      const c = config.clusterConfig;
      cluster = await startClusterNode({
        env: c.env,
        host: c.host,
        port: c.port,
        seedEndpoints: c.seedEndpoints,
        secret: c.secret,
        membership: clusterTunables?.membership,
        transport: clusterTunables?.transport,
        metadata: {
          mqttEndpoints: listeners.map((r) => `${r.kind}://${r.host}:${r.port}`),
          stores: ["dist", "inbox", "retain"],
          load: {},
        },
      }, log);
      const joined = cluster;
      cleanups.push(() => joined.leave());
      warnOnSingleInboxVoter(joined, config.system.inbox_store_range_voter_count, log);
      log.warn("cluster.stores_not_replicated", {
        message:
          "this version keeps the dist, inbox and retain stores node-local: membership is shared, but routes, sessions and retained messages are not replicated or routed between nodes yet; voter counts and balancers are validated but not applied",
      });
    }

    let api: AdminApi | null = null;
    if (config.apiServerConfig.enable) {
      api = await startAdminApi(
        config.apiServerConfig,
        { nodeId, broker, listeners, cluster },
        log,
      );
      const running = api;
      cleanups.push(() => running.close());
      log.info("api.started", { host: api.host, port: api.port });
    }

    log.info("node.ready", {
      nodeId,
      dataDir,
      listeners: listeners.map((r) => ({ listener: r.kind, host: r.host, port: r.port })),
    });
    // Shutdown order: stop the API and leave the cluster, tell every client
    // and flush sessions (broker), release the ports, then close the stores.
    const shutdown = async () => {
      if (api !== null) await api.close();
      if (cluster !== null) await cluster.leave();
      await broker.close();
      await Promise.all(listeners.map((r) => r.close()));
      await stores.close();
    };
    let closed: Promise<void> | null = null;
    return {
      nodeId,
      listeners,
      broker,
      cluster,
      close: () => closed ??= shutdown(),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
