/**
 * End to end (edgemq only): the command line, configuration errors, system
 * variables, JSON logs, graceful shutdown, and the first CONNACK after start.
 */

import { stringify } from "yaml";
import { assert, assertEquals } from "./harness/assert.ts";
import { edgemqConfig, IS_MOSQUITTO, runCli, startBroker } from "./harness/broker.ts";
import { RawClient } from "./harness/raw.ts";

/** Run main.ts with a config object written as YAML (or raw text). */
async function runWithConfig(
  config: Record<string, unknown> | string,
  env?: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-cli-" });
  try {
    const file = `${dir}/edgemq.yaml`;
    await Deno.writeTextFile(file, typeof config === "string" ? config : stringify(config));
    return await runCli(["--config", file], env, 20_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A valid config with one override applied at a dotted path. */
function configWith(path: string[], value: unknown): Record<string, unknown> {
  const c = edgemqConfig({ ws: false }, "/tmp/edgemq-e2e-never-started");
  let o = c as Record<string, unknown>;
  for (const k of path.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
  return c;
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: IS_MOSQUITTO, fn });

test("--help prints usage naming --config and passwd and exits 0", async () => {
  const r = await runCli(["--help"]);
  assertEquals(r.code, 0, r.output);
  assert(r.output.includes("--config"), r.output);
  assert(r.output.includes("passwd"), r.output);
});

test("an unknown argument exits non-zero", async () => {
  const r = await runCli(["--frobnicate"]);
  assert(r.code !== 0, "exit code");
  assert(r.output.includes("--frobnicate"), r.output);
});

test("a missing config file exits non-zero naming the file", async () => {
  const r = await runCli(["--config", "/nonexistent/edgemq.yaml"]);
  assert(r.code !== 0);
  assert(r.output.includes("/nonexistent/edgemq.yaml"), r.output);
});

test("malformed YAML exits non-zero with a YAML error", async () => {
  const r = await runWithConfig("mqttServiceConfig:\n  tcpListener: { enable: true, port: [\n");
  assert(r.code !== 0, "exit code");
  assert(/yaml/i.test(r.output), r.output);
});

for (
  const [path, value] of [
    [["mqttServiceConfig", "tcpListener", "port"], -1],
    [["mqttServiceConfig", "tcpListener", "port"], 70000],
    [["mqttServiceConfig", "maxKeepAliveSeconds"], "x"],
    [["mqttServiceConfig", "allowAnonymous"], "maybe"],
    [["mqttServiceConfig", "limits", "maxPacketBytes"], 0],
    [["mqttServiceConfig", "aclDefault"], "sometimes"],
  ] as [string[], unknown][]
) {
  const key = path.join(".");
  test(`a bad value ${JSON.stringify(value)} for ${key} exits non-zero naming the key`, async () => {
    const r = await runWithConfig(configWith(path, value));
    assert(r.code !== 0, `exit code ${r.code}`);
    assert(r.output.includes(key), `output does not name ${key}: ${r.output}`);
  });
}

test("a passwordFile that does not exist exits non-zero naming the key or the file", async () => {
  const r = await runWithConfig(
    configWith(["mqttServiceConfig", "passwordFile"], "/nonexistent/passwd"),
  );
  assert(r.code !== 0, `exit code ${r.code}`);
  assert(/passwordFile|\/nonexistent\/passwd/.test(r.output), r.output);
});

test("an ACL rule with an invalid topic filter exits non-zero naming the rule", async () => {
  const r = await runWithConfig(
    configWith(["mqttServiceConfig", "acl"], [{ action: "publish", topic: "a/#/b", allow: false }]),
  );
  assert(r.code !== 0, `exit code ${r.code}`);
  assert(r.output.includes("mqttServiceConfig.acl"), r.output);
});

test("a TLS listener without certFile exits non-zero naming the key", async () => {
  const r = await runWithConfig(
    configWith(["mqttServiceConfig", "tlsListener"], { enable: true, host: "127.0.0.1", port: 0 }),
  );
  assert(r.code !== 0, `exit code ${r.code}`);
  assert(r.output.includes("mqttServiceConfig.tlsListener.certFile"), r.output);
});

test("an unknown configuration key exits non-zero naming it", async () => {
  const r = await runWithConfig(configWith(["mqttServiceConfig", "tcpListner"], { enable: true }));
  assert(r.code !== 0, `exit code ${r.code}: ${r.output}`);
  assert(r.output.includes("tcpListner"), r.output);
});

test("a malformed system variable inbox_store_range_voter_count=abc exits non-zero naming it", async () => {
  const r = await runWithConfig(configWith(["log", "level"], "info"), {
    inbox_store_range_voter_count: "abc",
  });
  assert(r.code !== 0, `exit code ${r.code}`);
  assert(r.output.includes("inbox_store_range_voter_count"), r.output);
});

test("a non-loopback listener without authentication and without allowAnonymous refuses to start", async () => {
  const c = configWith(["mqttServiceConfig", "tcpListener", "host"], "0.0.0.0");
  delete (c.mqttServiceConfig as Record<string, unknown>).allowAnonymous;
  const r = await runWithConfig(c);
  assert(r.code !== 0, `exit code ${r.code}`);
  assert(/allowAnonymous|passwordFile/.test(r.output), r.output);
});

test("startup logs JSON lines with ts, level and event; SIGTERM shuts down with exit 0", async () => {
  const t0 = performance.now();
  const b = await startBroker();
  let stopped = false;
  try {
    const { client, connack } = await RawClient.connect(b.tcpPort, { clientId: "first" });
    const firstConnackMs = performance.now() - t0;
    assertEquals(connack.returnCode, 0);
    client.close();
    console.log(`start-up to first CONNACK: ${firstConnackMs.toFixed(0)} ms`);
    for (const l of b.logs) {
      assert(l.event !== "text", `non-JSON output line: ${String(l.text)}`);
      assert(
        typeof l.ts === "string" && typeof l.level === "string" && typeof l.event === "string",
        JSON.stringify(l),
      );
    }
    const started = b.logs.filter((l) => l.event === "listener.started").map((l) => l.listener);
    assert(started.includes("tcp") && started.includes("ws"), `listeners: ${started}`);
    assert(b.logs.some((l) => l.event === "node.ready"));
    const code = await b.stop();
    stopped = true;
    assertEquals(code, 0, "exit code after SIGTERM");
  } finally {
    if (!stopped) await b.stop();
  }
});

test("a port already in use exits non-zero", async () => {
  const b = await startBroker({ ws: false });
  try {
    const r = await runWithConfig(
      configWith(["mqttServiceConfig", "tcpListener", "port"], b.tcpPort),
    );
    assert(r.code !== 0, `exit code ${r.code}`);
  } finally {
    await b.stop();
  }
});

test("without --config it runs on the embedded defaults: TCP 1883, WS 8080 /mqtt, data in ./data", async () => {
  const busy = await Promise.all([1883, 8080].map(async (port) => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return false;
    }
  }));
  if (busy.some((x) => x)) {
    console.log("ports 1883/8080 are in use on this machine; defaults not checked");
    return;
  }
  const cwd = await Deno.makeTempDir({ prefix: "edgemq-e2e-defaults-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${new URL("../main.ts", import.meta.url).pathname}`],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    const deadline = Date.now() + 20_000;
    while (!text.includes('"node.ready"') && Date.now() < deadline) {
      const { value, done } = await out.read();
      if (done) break;
      text += value;
    }
    assert(text.includes('"node.ready"'), `no node.ready: ${text}`);
    const started = text.split("\n").filter((l) => l.includes('"listener.started"')).map((l) =>
      JSON.parse(l) as { listener: string; host: string; port: number }
    );
    const by = Object.fromEntries(started.map((l) => [l.listener, `${l.host}:${l.port}`]));
    assertEquals(by, { tcp: "127.0.0.1:1883", ws: "127.0.0.1:8080" });
    const ws = await import("./harness/wsRaw.ts");
    const w = await ws.WsRaw.open(8080, { path: "/mqtt" });
    await w.close();
    assert((await Deno.stat(`${cwd}/data`)).isDirectory, "./data created");
  } finally {
    child.kill("SIGTERM");
    await out.cancel();
    await child.stderr.cancel();
    await child.status;
    await Deno.remove(cwd, { recursive: true });
  }
});
