/**
 * In-process measurement of the broker hot path (no sockets): QoS 0 fan-in
 * (16 publishers → 1 subscriber on `bench/#`) and fan-out (1 → 100).
 * `deno run -A mqtt/broker/hotpathProfile.ts fanin|fanout 4|5`; add
 * `--cpu-prof` to profile.
 *
 * @module
 */
import { createMqttBroker } from "../mod.ts";
import { defaultMqttBrokerOptions } from "./options.ts";
import { framePacket, rawConnect, testAuthenticator } from "./testHarness.ts";
import { MemoryDistStore } from "../../stores/dist/memoryDistStore.ts";
import { MemoryRetainStore } from "../../stores/retain/memoryRetainStore.ts";
import { LocalSessionRegistry } from "../../stores/sessions/localSessionRegistry.ts";
import { MemoryInboxStore } from "../../stores/inbox/memoryInboxStore.ts";
import { silentLogger } from "../../log/jsonLog.ts";
import type { ConnectionEvents, MqttConnection } from "../transport/types.ts";

let written = 0;
let bytes = 0;
let ids = 1;
function conn(): MqttConnection {
  return {
    id: ids++,
    listener: "tcp",
    remoteAddress: "",
    remotePort: 0,
    clientCertificate: null,
    bufferedBytes: 0,
    write(p: Uint8Array) {
      written++;
      bytes += p.length;
      return true;
    },
    pause() {},
    resume() {},
    markConnected() {},
    setMaxInboundPacketBytes() {},
    end() {},
    destroy() {},
  };
}
const broker = createMqttBroker(defaultMqttBrokerOptions(), {
  nodeId: "n",
  dist: new MemoryDistStore(),
  inbox: new MemoryInboxStore({
    maxQueuedMessages: 1000,
    overflowPolicy: "drop-newest",
    maxSubscriptions: 100,
    maxIncomingQos2: 100,
  }),
  retain: new MemoryRetainStore({ maxRetainedPerTenant: 1000 }),
  sessions: new LocalSessionRegistry(),
  authenticator: testAuthenticator,
  acl: { checkPublish: () => true, checkSubscribe: () => true, checkDeliver: () => true },
  log: silentLogger,
});
const settle = () => new Promise((r) => setTimeout(r, 5));
const mode = Deno.args[0] ?? "fanin";
const v = Number(Deno.args[1] ?? 4);
const subs: ConnectionEvents[] = [];
const nsubs = mode === "fanin" ? 1 : 100;
const enc = new TextEncoder();
for (let i = 0; i < nsubs; i++) {
  const ev = broker.handler(conn());
  ev.onPacket(rawConnect({ level: v, clientId: `s${i}` }));
  await settle();
  const f = enc.encode(mode === "fanin" ? "bench/#" : "bench/t");
  ev.onPacket(
    framePacket(0x82, [0, 1, ...(v === 5 ? [0] : []), f.length >> 8, f.length & 0xff, ...f, 0]),
  );
  subs.push(ev);
}
await settle();
const pubs: { ev: ConnectionEvents; pkt: Uint8Array }[] = [];
const npubs = mode === "fanin" ? 16 : 1;
for (let i = 0; i < npubs; i++) {
  const ev = broker.handler(conn());
  ev.onPacket(rawConnect({ level: v, clientId: `p${i}` }));
  const t = enc.encode(mode === "fanin" ? `bench/${i}` : "bench/t");
  const payload = new Uint8Array(64);
  pubs.push({
    ev,
    pkt: framePacket(0x30, [
      t.length >> 8,
      t.length & 0xff,
      ...t,
      ...(v === 5 ? [0] : []),
      ...payload,
    ]),
  });
}
await settle();
written = 0;
const N = mode === "fanin" ? 2_000_000 : 50_000;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const p = pubs[i % npubs];
  p.ev.onPacket(p.pkt);
}
const dt = (performance.now() - t0) / 1000;
console.log(
  `${mode} v${v}: ${N} publishes in ${dt.toFixed(2)} s = ${(N / dt / 1000).toFixed(0)}k msg/s in, ${
    (written / dt / 1000).toFixed(0)
  }k deliveries/s`,
);
await broker.close();
