import { assertEquals, assertThrows } from "../testing/assert.ts";
import { configFromValues, parseYaml } from "./loadConfig.ts";
import { ConfigError } from "./schemaSpec.ts";
import { readSystemVariables } from "./systemVariables.ts";
import {
  normalizedLimitsSection,
  README_PATH,
  REFERENCE_PATH,
  renderConfigurationReference,
  withLimitsTable,
} from "./reference.ts";

Deno.test("embedded defaults: TCP 1883 and WS 8080 /mqtt on loopback, data in ./data", () => {
  const c = configFromValues(undefined, {});
  assertEquals(c.mqttServiceConfig.tcpListener, { enable: true, host: "127.0.0.1", port: 1883 });
  assertEquals(c.mqttServiceConfig.wsListener.port, 8080);
  assertEquals(c.mqttServiceConfig.wsListener.path, "/mqtt");
  assertEquals(c.mqttServiceConfig.tlsListener.enable, false);
  assertEquals(c.stateStoreConfig.dataDir, "./data");
  assertEquals(c.clusterConfig, null);
  assertEquals(c.system.inbox_store_range_voter_count, 1);
  assertEquals(c.system.dist_worker_range_voter_count, 3);
});

Deno.test("a bad value names the key and the value", () => {
  const e = assertThrows(
    () => configFromValues({ mqttServiceConfig: { tcpListener: { port: -1 } } }, {}),
    ConfigError,
  );
  assertEquals(e.key, "mqttServiceConfig.tcpListener.port");
  assertEquals(e.message.includes("-1"), true);
  const e2 = assertThrows(
    () => configFromValues({ mqttServiceConfig: { maxKeepAliveSeconds: "x" } }, {}),
    ConfigError,
  );
  assertEquals(
    e2.message,
    'mqttServiceConfig.maxKeepAliveSeconds: expected an integer, got "x"',
  );
});

Deno.test("an unknown key is rejected rather than ignored", () => {
  const e = assertThrows(
    () => configFromValues({ mqttServiceConfig: { tcpListner: {} } }, {}),
    ConfigError,
  );
  assertEquals(e.key, "mqttServiceConfig.tcpListner");
});

Deno.test("a non-loopback listener without authentication refuses to start", () => {
  const e = assertThrows(
    () => configFromValues({ mqttServiceConfig: { tcpListener: { host: "0.0.0.0" } } }, {}),
    ConfigError,
  );
  assertEquals(e.key, "mqttServiceConfig.tcpListener.host");
  // explicit allowAnonymous or a password file lifts it
  configFromValues({
    mqttServiceConfig: { tcpListener: { host: "0.0.0.0" }, allowAnonymous: true },
  }, {});
  configFromValues({
    mqttServiceConfig: { tcpListener: { host: "0.0.0.0" }, passwordFile: "/x" },
  }, {});
});

Deno.test("TLS listener needs certFile and keyFile; client certs need caFile", () => {
  assertThrows(
    () => configFromValues({ mqttServiceConfig: { tlsListener: { enable: true } } }, {}),
    ConfigError,
    "certFile",
  );
  assertThrows(
    () =>
      configFromValues({
        mqttServiceConfig: {
          wssListener: { enable: true, certFile: "c", keyFile: "k", requireClientCert: true },
        },
      }, {}),
    ConfigError,
    "caFile",
  );
});

Deno.test("seedEndpoints accepts a comma-separated string or a list", () => {
  const base = { env: "e", host: "127.0.0.1", port: 8899, secret: "s" };
  const a = configFromValues({
    clusterConfig: { ...base, seedEndpoints: "127.0.0.1:1, 127.0.0.2:2" },
  }, {});
  assertEquals(a.clusterConfig?.seedEndpoints, ["127.0.0.1:1", "127.0.0.2:2"]);
  const b = configFromValues({ clusterConfig: { ...base, seedEndpoints: ["h:3"] } }, {});
  assertEquals(b.clusterConfig?.seedEndpoints, ["h:3"]);
  assertThrows(
    () => configFromValues({ clusterConfig: { ...base, seedEndpoints: "nohost" } }, {}),
    ConfigError,
    "seedEndpoints[0]",
  );
});

Deno.test("the seed's balancer names and short names are accepted; others are not", () => {
  const c = configFromValues({
    stateStoreConfig: {
      inboxStoreConfig: {
        balanceConfig: {
          balancers: [
            "com.baidu.bifromq.inbox.store.balance.ReplicaCntBalancerFactory",
            "com.baidu.bifromq.inbox.store.balance.RecoveryBalancerFactory",
            "RangeLeaderBalancer",
          ],
        },
      },
    },
  }, {});
  assertEquals(c.stateStoreConfig.inboxStoreConfig.balanceConfig.balancers.length, 3);
  assertThrows(
    () =>
      configFromValues({
        stateStoreConfig: { retainStoreConfig: { balanceConfig: { balancers: ["Nope"] } } },
      }, {}),
    ConfigError,
    "Nope",
  );
});

Deno.test("system variables: malformed or out of range values name the variable", () => {
  assertEquals(
    readSystemVariables({ inbox_store_range_voter_count: "3" }).inbox_store_range_voter_count,
    3,
  );
  assertThrows(
    () => readSystemVariables({ inbox_store_range_voter_count: "abc" }),
    ConfigError,
    "inbox_store_range_voter_count",
  );
  assertThrows(
    () => readSystemVariables({ dist_worker_range_voter_count: "0" }),
    ConfigError,
    "dist_worker_range_voter_count",
  );
});

Deno.test("invalid YAML names the file", () => {
  assertThrows(() => parseYaml("a: [1, 2", "my.yaml"), ConfigError, "my.yaml");
  assertThrows(() => parseYaml("a: 1\na: 2\n", "dup.yaml"), ConfigError, "dup.yaml");
});

Deno.test("docs/configuration.md is generated from the current schema", async () => {
  const onDisk = await Deno.readTextFile(REFERENCE_PATH);
  assertEquals(onDisk, renderConfigurationReference(), "run: deno run -A config/reference.ts");
});

Deno.test("the README's limits table is generated from the current schema", async () => {
  const readme = await Deno.readTextFile(README_PATH);
  assertEquals(
    normalizedLimitsSection(readme),
    normalizedLimitsSection(withLimitsTable(readme)),
    "run: deno run -A config/reference.ts",
  );
});

Deno.test("cluster tunables are a mapping of names to non-negative integers", () => {
  const base = { env: "e", host: "127.0.0.1", port: 8899, secret: "s" };
  const c = configFromValues({
    clusterConfig: { ...base, membership: { probeIntervalMs: 500 } },
  }, {});
  assertEquals(c.clusterConfig?.membership, { probeIntervalMs: 500 });
  assertEquals(c.clusterConfig?.transport, {});
  assertThrows(
    () =>
      configFromValues({ clusterConfig: { ...base, membership: { probeIntervalMs: "x" } } }, {}),
    ConfigError,
    "clusterConfig.membership.probeIntervalMs",
  );
});

Deno.test("the admin API refuses a non-loopback address unless allowRemote is set", () => {
  assertThrows(
    () => configFromValues({ apiServerConfig: { enable: true, host: "0.0.0.0" } }, {}),
    ConfigError,
    "apiServerConfig.host",
  );
  configFromValues({ apiServerConfig: { enable: true, host: "0.0.0.0", allowRemote: true } }, {});
});
