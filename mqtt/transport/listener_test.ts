import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import type { Buffer } from "node:buffer";
import { WebSocket } from "ws";
import { createMemoryLogger, silentLogger } from "../../log/jsonLog.ts";
import { startListener } from "./listener.ts";
import { makeTestCerts, opensslAvailable, type TestCerts } from "./testCerts.ts";
import {
  defaultTransportLimits,
  type FrameError,
  type ListenerConfig,
  type MqttConnection,
  type RunningListener,
  type TransportLimits,
} from "./types.ts";

const PINGREQ = Uint8Array.of(0xc0, 0x00);
const PINGRESP = Uint8Array.of(0xd0, 0x00);
const DISCONNECT_PACKET_TOO_LARGE = Uint8Array.of(0xe0, 0x01, 0x95);

/** A CONNECT-shaped packet (type 1) with an arbitrary body. */
function packet(firstByte: number, bodyBytes: number): Uint8Array {
  const out = new Uint8Array(2 + bodyBytes);
  out[0] = firstByte;
  out[1] = bodyBytes;
  for (let i = 0; i < bodyBytes; i++) out[2 + i] = i & 0xff;
  return out;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Recorded {
  conn: MqttConnection;
  packets: number[][];
  errors: FrameError[];
  closes: number;
}

/** A handler that records everything and answers PINGREQ with PINGRESP. */
function recordingHandler(
  onFrameError?: (conn: MqttConnection, error: FrameError) => void,
  onPacket?: (conn: MqttConnection, packet: Uint8Array) => void,
) {
  const conns: Recorded[] = [];
  const handler = (conn: MqttConnection) => {
    const rec: Recorded = { conn, packets: [], errors: [], closes: 0 };
    conns.push(rec);
    return {
      onPacket(p: Uint8Array) {
        rec.packets.push([...p]);
        if (p[0] === 0xc0) conn.write(PINGRESP);
        onPacket?.(conn, p);
      },
      onFrameError(e: FrameError) {
        rec.errors.push(e);
        onFrameError?.(conn, e);
      },
      onDrain() {},
      onClose() {
        rec.closes++;
      },
    };
  };
  return { conns, handler };
}

function config(extra: Partial<ListenerConfig> = {}): ListenerConfig {
  return { enable: true, host: "127.0.0.1", port: 0, ...extra };
}

function limits(extra: Partial<TransportLimits> = {}): TransportLimits {
  return { ...defaultTransportLimits(), ...extra };
}

/** A raw client socket collecting what it receives. */
interface Peer {
  received: number[];
  closed: boolean;
  write(bytes: Uint8Array): void;
  end(): void;
  waitClosed(): Promise<void>;
}

function peerOf(socket: net.Socket): Peer {
  const peer: Peer = {
    received: [],
    closed: false,
    write: (bytes) => socket.write(bytes),
    end: () => socket.destroy(),
    waitClosed: () => waitFor("peer close", () => peer.closed),
  };
  socket.on("data", (d: Buffer) => peer.received.push(...d));
  socket.on("error", () => {});
  socket.on("close", () => {
    peer.closed = true;
  });
  return peer;
}

async function tcpPeer(port: number): Promise<Peer> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return peerOf(socket);
}

Deno.test("tcp: packets split across writes arrive whole; replies flow back", async () => {
  const { conns, handler } = recordingHandler();
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  assert(listener.port > 0);
  const peer = await tcpPeer(listener.port);
  const publish = packet(0x30, 100);
  peer.write(Uint8Array.of(...PINGREQ, ...publish.subarray(0, 10)));
  await waitFor("first packet", () => conns[0]?.packets.length === 1);
  peer.write(publish.subarray(10));
  await waitFor("second packet", () => conns[0].packets.length === 2);
  assertEquals(conns[0].packets, [[...PINGREQ], [...publish]]);
  await waitFor("PINGRESP", () => peer.received.length === 2);
  assertEquals(peer.received, [...PINGRESP]);
  assertEquals(conns[0].conn.listener, "tcp");
  assertEquals(conns[0].conn.remoteAddress, "127.0.0.1");
  assertEquals(conns[0].conn.clientCertificate, null);
  peer.end();
  await waitFor("onClose", () => conns[0].closes === 1);
  await listener.close();
  assertEquals(conns[0].closes, 1);
});

Deno.test("tcp: writes of one turn are batched and keep their order", async () => {
  const { conns, handler } = recordingHandler(undefined, (conn, p) => {
    if (p[0] !== 0x30) return;
    for (let i = 0; i < 50; i++) conn.write(Uint8Array.of(0x40, 0x02, 0, i));
  });
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  const peer = await tcpPeer(listener.port);
  peer.write(packet(0x30, 3));
  await waitFor("50 PUBACKs", () => peer.received.length === 200);
  for (let i = 0; i < 50; i++) assertEquals(peer.received.slice(i * 4, i * 4 + 4), [0x40, 2, 0, i]);
  assertEquals(conns.length, 1);
  peer.end();
  await listener.close();
});

Deno.test("tcp: a too-large declared packet gives a frame error; the handler's DISCONNECT is flushed before close", async () => {
  const { conns, handler } = recordingHandler((conn) => {
    conn.write(DISCONNECT_PACKET_TOO_LARGE);
    conn.end();
  });
  const listener = await startListener(
    "tcp",
    config(),
    limits({ maxPacketBytes: 1000 }),
    handler,
    silentLogger,
  );
  const peer = await tcpPeer(listener.port);
  peer.write(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f)); // 268 MB declared, no body
  await peer.waitClosed();
  assertEquals(peer.received, [...DISCONNECT_PACKET_TOO_LARGE]);
  assertEquals(conns[0].errors.map((e) => [e.kind, e.declaredBytes]), [[
    "packet-too-large",
    268_435_460,
  ]]);
  assertEquals(listener.stats().frameErrors["packet-too-large"], 1);
  await waitFor("onClose", () => conns[0].closes === 1);
  await listener.close();
});

Deno.test("tcp: setMaxInboundPacketBytes lowers the limit; a handler doing nothing on a frame error gets the connection destroyed", async () => {
  const { conns, handler } = recordingHandler(undefined, (conn) => {
    conn.setMaxInboundPacketBytes(10);
  });
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  const peer = await tcpPeer(listener.port);
  peer.write(packet(0x10, 20)); // within 1 MiB: accepted, then the limit drops to 10
  await waitFor("first packet", () => conns[0]?.packets.length === 1);
  peer.write(packet(0x30, 20));
  await peer.waitClosed();
  assertEquals(conns[0].errors.map((e) => e.kind), ["packet-too-large"]);
  assertEquals(conns[0].packets.length, 1);
  await listener.close();
});

Deno.test("tcp: connect timeout fires onFrameError then destroys, unless markConnected", async () => {
  const { conns, handler } = recordingHandler(undefined, (conn, p) => {
    if (p[0] === 0x10) conn.markConnected();
  });
  const listener = await startListener(
    "tcp",
    config(),
    limits({ connectTimeoutMs: 100 }),
    handler,
    silentLogger,
  );
  const idle = await tcpPeer(listener.port);
  const good = await tcpPeer(listener.port);
  good.write(packet(0x10, 5));
  const t0 = Date.now();
  await idle.waitClosed();
  const elapsedMs = Date.now() - t0;
  assert(elapsedMs >= 80 && elapsedMs < 1000, `closed after ${elapsedMs} ms`);
  const idleRec = conns.find((c) => c.packets.length === 0) as Recorded;
  assertEquals(idleRec.errors.map((e) => e.kind), ["connect-timeout"]);
  await new Promise((r) => setTimeout(r, 250));
  assert(!good.closed, "a connected client is not timed out");
  good.end();
  await listener.close();
});

Deno.test("tcp: maxConnections closes the excess at once and logs it", async () => {
  const log = createMemoryLogger();
  const { conns, handler } = recordingHandler();
  const listener = await startListener(
    "tcp",
    config(),
    limits({ maxConnections: 2 }),
    handler,
    log,
  );
  const a = await tcpPeer(listener.port);
  const b = await tcpPeer(listener.port);
  const c = await tcpPeer(listener.port);
  await c.waitClosed();
  assert(!a.closed && !b.closed);
  assertEquals(conns.length, 2);
  const rejected = log.lines.filter((l) => l.event === "conn.rejected");
  assertEquals(rejected.length, 1);
  assertEquals(rejected[0].reason, "max-connections");
  const stats = listener.stats();
  assertEquals([stats.openConnections, stats.accepted, stats.rejected["max-connections"]], [
    2,
    2,
    1,
  ]);
  a.end();
  await waitFor("slot freed", () => conns[0].closes === 1);
  await new Promise((r) => setTimeout(r, 20));
  const d = await tcpPeer(listener.port);
  d.write(PINGREQ);
  await waitFor("PINGRESP on the new connection", () => d.received.length === 2);
  b.end();
  d.end();
  await listener.close();
});

Deno.test("tcp: maxConnectsPerSecond closes the excess; rejection logs are rate-limited", async () => {
  const log = createMemoryLogger();
  const { conns, handler } = recordingHandler();
  const listener = await startListener(
    "tcp",
    config(),
    limits({ maxConnectsPerSecond: 2 }),
    handler,
    log,
  );
  const peers: Peer[] = [];
  for (let i = 0; i < 5; i++) peers.push(await tcpPeer(listener.port));
  await waitFor("3 rejected", () => peers.filter((p) => p.closed).length === 3);
  assertEquals(conns.length, 2);
  const rejected = log.lines.filter((l) => l.event === "conn.rejected");
  assertEquals(rejected.length, 1, "one log line per second");
  assertEquals(rejected[0].reason, "max-connects-per-second");
  for (const p of peers) p.end();
  await listener.close();
});

Deno.test("tcp: close() destroys open connections (onClose once each) and frees the port", async () => {
  const { conns, handler } = recordingHandler();
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  const peer = await tcpPeer(listener.port);
  await waitFor("accepted", () => conns.length === 1);
  await listener.close();
  await peer.waitClosed();
  assertEquals(conns[0].closes, 1);
  await listener.close(); // idempotent
  await rejects(tcpPeer(listener.port));
});

Deno.test("config errors name the field and value", async () => {
  const { handler } = recordingHandler();
  await rejects(
    startListener("tcp", config({ enable: false }), limits(), handler, silentLogger),
    /disabled/,
  );
  await rejects(
    startListener("tcp", config({ port: 70000 }), limits(), handler, silentLogger),
    /got 70000/,
  );
  await rejects(
    startListener("tcp", config(), limits({ maxPacketBytes: 0 }), handler, silentLogger),
    /maxPacketBytes must be a positive integer, got 0/,
  );
  await rejects(
    startListener("tls", config(), limits(), handler, silentLogger),
    /needs certFile and keyFile/,
  );
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  await rejects(
    startListener("tcp", config({ port: listener.port }), limits(), handler, silentLogger),
    new RegExp(`cannot start tcp listener on 127.0.0.1:${listener.port}`),
  );
  await listener.close();
});

// ---- WebSocket ----

async function wsPeer(
  url: string,
  protocols: string[],
  options: Record<string, unknown> = {},
): Promise<{ ws: WebSocket; received: number[]; closed: () => boolean }> {
  const ws = new WebSocket(url, protocols, options);
  const received: number[] = [];
  let closed = false;
  ws.on("message", (d: Buffer) => received.push(...d));
  ws.on("close", () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, received, closed: () => closed };
}

function wsError(url: string, protocols: string[]): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.on("error", (e: Error) => resolve(e.message));
    ws.on("open", () => {
      ws.terminate();
      resolve("opened");
    });
  });
}

Deno.test("ws: packets spread over and packed into binary messages are framed; other paths get 404", async () => {
  const { conns, handler } = recordingHandler();
  const listener = await startListener("ws", config(), limits(), handler, silentLogger);
  const url = `ws://127.0.0.1:${listener.port}/mqtt`;
  const peer = await wsPeer(url, ["mqtt"]);
  assertEquals(peer.ws.protocol, "mqtt");
  const publish = packet(0x30, 50);
  peer.ws.send(Uint8Array.of(...PINGREQ, ...publish.subarray(0, 7)));
  peer.ws.send(publish.subarray(7));
  await waitFor("2 packets", () => conns[0]?.packets.length === 2);
  assertEquals(conns[0].packets, [[...PINGREQ], [...publish]]);
  await waitFor("PINGRESP", () => peer.received.length === 2);
  assertEquals(conns[0].conn.listener, "ws");
  peer.ws.close();
  await waitFor("onClose", () => conns[0].closes === 1);

  assertEquals(
    await wsError(`ws://127.0.0.1:${listener.port}/other`, ["mqtt"]),
    "Unexpected server response: 404",
  );
  assertEquals(await wsError(url, ["stomp"]), "Unexpected server response: 400");
  const legacy = await wsPeer(url, ["mqttv3.1"]);
  assertEquals(legacy.ws.protocol, "mqttv3.1");
  legacy.ws.send("text frame");
  await waitFor("text frame closes", () => legacy.closed());
  await listener.close();
});

Deno.test("ws: a too-large packet gives a frame error; the DISCONNECT reaches the client before the close", async () => {
  const { conns, handler } = recordingHandler((conn) => {
    conn.write(DISCONNECT_PACKET_TOO_LARGE);
    conn.end();
  });
  const listener = await startListener(
    "ws",
    config(),
    limits({ maxPacketBytes: 100 }),
    handler,
    silentLogger,
  );
  const peer = await wsPeer(`ws://127.0.0.1:${listener.port}/mqtt`, ["mqtt"]);
  peer.ws.send(packet(0x30, 120));
  await waitFor("close", () => peer.closed());
  assertEquals(peer.received, [...DISCONNECT_PACKET_TOO_LARGE]);
  assertEquals(conns[0].errors.map((e) => e.kind), ["packet-too-large"]);
  await waitFor("onClose", () => conns[0].closes === 1);
  await listener.close();
});

// ---- TLS / WSS ----

const haveOpenssl = await opensslAvailable();
if (!haveOpenssl) console.warn("listener_test: openssl not found, TLS/WSS tests skipped");

async function withCerts(fn: (certs: TestCerts) => Promise<void>): Promise<void> {
  const certs = await makeTestCerts();
  try {
    await fn(certs);
  } finally {
    await certs.remove();
  }
}

function tlsConfig(certs: TestCerts, extra: Partial<ListenerConfig> = {}): ListenerConfig {
  return config({
    certFile: certs.serverCert,
    keyFile: certs.serverKey,
    caFile: certs.caCert,
    ...extra,
  });
}

/**
 * A TLS/WSS listener test: fresh certificates, a recording handler and a
 * listener of `kind`, closed after `body`; skipped without openssl.
 */
function certTest(
  name: string,
  kind: "tls" | "wss",
  extraConfig: Partial<ListenerConfig>,
  extraLimits: Partial<TransportLimits>,
  body: (certs: TestCerts, listener: RunningListener, conns: Recorded[]) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !haveOpenssl,
    fn: () =>
      withCerts(async (certs) => {
        const { conns, handler } = recordingHandler();
        const listener = await startListener(
          kind,
          tlsConfig(certs, extraConfig),
          limits(extraLimits),
          handler,
          silentLogger,
        );
        await body(certs, listener, conns);
        await listener.close();
      }),
  });
}

async function tlsPeer(
  port: number,
  certs: TestCerts,
  client: "none" | "good" | "stranger",
): Promise<Peer> {
  const read = (p: string) => Deno.readTextFileSync(p);
  const creds = client === "good"
    ? { cert: read(certs.clientCert), key: read(certs.clientKey) }
    : client === "stranger"
    ? { cert: read(certs.strangerCert), key: read(certs.strangerKey) }
    : {};
  const socket = tls.connect({ port, host: "127.0.0.1", ca: read(certs.caCert), ...creds });
  const peer = peerOf(socket);
  await new Promise<void>((resolve) => {
    socket.once("secureConnect", () => resolve());
    socket.once("close", () => resolve());
  });
  return peer;
}

certTest(
  "tls: optional client certificates; the subject CN reaches the session",
  "tls",
  {},
  {},
  async (certs, listener, conns) => {
    const anon = await tlsPeer(listener.port, certs, "none");
    anon.write(PINGREQ);
    await waitFor("PINGRESP", () => anon.received.length === 2);
    const good = await tlsPeer(listener.port, certs, "good");
    good.write(PINGREQ);
    await waitFor("PINGRESP", () => good.received.length === 2);
    assertEquals(conns.length, 2);
    assertEquals(conns[0].conn.clientCertificate, null);
    const cert = conns[1].conn.clientCertificate;
    assertEquals(cert?.subjectCN, "client1");
    assertEquals(cert?.subject.O, "acme");
    assertEquals(cert?.issuerCN, "ca");
    assertEquals(cert?.authorized, true);
    assert(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(cert?.fingerprint256 ?? ""));
    anon.end();
    good.end();
  },
);

certTest(
  "tls: requireClientCert refuses clients without a CA-signed certificate",
  "tls",
  { requireClientCert: true },
  {},
  async (certs, listener, conns) => {
    const anon = await tlsPeer(listener.port, certs, "none");
    anon.write(PINGREQ);
    await anon.waitClosed();
    const stranger = await tlsPeer(listener.port, certs, "stranger");
    stranger.write(PINGREQ);
    await stranger.waitClosed();
    assertEquals(anon.received.length + stranger.received.length, 0);
    const good = await tlsPeer(listener.port, certs, "good");
    good.write(PINGREQ);
    await waitFor("PINGRESP", () => good.received.length === 2);
    assertEquals(conns.length, 1);
    assertEquals(conns[0].conn.clientCertificate?.subjectCN, "client1");
    good.end();
  },
);

certTest(
  "tls: a client that never completes the handshake is closed at the connect timeout",
  "tls",
  {},
  { connectTimeoutMs: 100 },
  async (_certs, listener, conns) => {
    const raw = await tcpPeer(listener.port);
    await raw.waitClosed();
    assertEquals(conns.length, 0);
    assertEquals(listener.stats().handshakeTimeouts, 1);
  },
);

certTest("tls: admission happens before the handshake (maxConnections)", "tls", {}, {
  maxConnections: 1,
}, async (certs, listener, conns) => {
  const first = await tlsPeer(listener.port, certs, "none");
  first.write(PINGREQ);
  await waitFor("PINGRESP", () => first.received.length === 2);
  const second = await tcpPeer(listener.port);
  await second.waitClosed();
  assertEquals(listener.stats().rejected["max-connections"], 1);
  assertEquals(conns.length, 1);
  first.end();
});

certTest(
  "wss: MQTT over secure WebSocket with a client certificate",
  "wss",
  { path: "/custom", requireClientCert: true },
  {},
  async (certs, listener, conns) => {
    const read = (p: string) => Deno.readTextFileSync(p);
    const peer = await wsPeer(`wss://127.0.0.1:${listener.port}/custom`, ["mqtt"], {
      ca: read(certs.caCert),
      cert: read(certs.clientCert),
      key: read(certs.clientKey),
    });
    peer.ws.send(PINGREQ);
    await waitFor("PINGRESP", () => peer.received.length === 2);
    assertEquals(conns[0].conn.listener, "wss");
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${listener.port}/custom`, ["mqtt"], {
        ca: read(certs.caCert),
      });
      ws.on("error", () => resolve("error"));
      ws.on("open", () => {
        ws.terminate();
        resolve("opened");
      });
    });
    assertEquals(refused, "error", "no client certificate: refused");
    assertEquals(conns.length, 1);
    assertEquals(conns[0].conn.clientCertificate?.subjectCN, "client1");
    peer.ws.close();
    await waitFor("onClose", () => conns[0].closes === 1);
  },
);

Deno.test("tcp: backpressure — write() turns false, onDrain follows when the peer reads; a slow consumer is destroyed", async () => {
  let drains = 0;
  const conns: MqttConnection[] = [];
  let closes = 0;
  const listener = await startListener(
    "tcp",
    config(),
    limits({ writeHighWaterMarkBytes: 64 * 1024, maxWriteBufferBytes: 4 * 1024 * 1024 }),
    (conn) => {
      conns.push(conn);
      return {
        onPacket() {},
        onFrameError() {},
        onDrain() {
          drains++;
        },
        onClose() {
          closes++;
        },
      };
    },
    silentLogger,
  );
  const socket = net.connect(listener.port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.on("error", () => {});
  socket.pause();
  await waitFor("accept", () => conns.length === 1);
  const conn = conns[0];
  const chunk = new Uint8Array(16 * 1024);
  let writes = 0;
  while (conn.write(chunk)) writes++;
  assert(writes >= 3, `accepted ${writes} chunks before backpressure`);
  assert(conn.bufferedBytes > 64 * 1024);
  let received = 0;
  socket.on("data", (d: Buffer) => {
    received += d.length;
  });
  socket.resume();
  await waitFor("onDrain", () => drains === 1);
  assert(conn.bufferedBytes <= 64 * 1024);
  // Now a consumer that never reads: the buffer limit destroys it.
  socket.pause();
  await new Promise((r) => setTimeout(r, 50));
  // Loopback kernel buffers absorb a few MB first; bounded loop.
  for (let i = 0; i < 4000 && closes === 0; i++) {
    conn.write(chunk);
    if (i % 64 === 63) await new Promise((r) => setTimeout(r, 1));
  }
  await waitFor("slow consumer closed", () => closes === 1);
  assertEquals(listener.stats().slowConsumers, 1);
  assert(received > 0);
  socket.destroy();
  await listener.close();
});

Deno.test("tcp: pause() stops packet delivery until resume()", async () => {
  const { conns, handler } = recordingHandler(undefined, (conn, p) => {
    if (p[0] === 0x10) conn.pause();
  });
  const listener = await startListener("tcp", config(), limits(), handler, silentLogger);
  const peer = await tcpPeer(listener.port);
  // Same write: the PINGREQ arrives in the CONNECT's chunk and must wait too.
  peer.write(Uint8Array.of(...packet(0x10, 1), ...PINGREQ));
  await waitFor("CONNECT", () => conns[0]?.packets.length === 1);
  peer.write(PINGREQ);
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(conns[0].packets.length, 1, "no delivery while paused");
  conns[0].conn.resume();
  await waitFor("both PINGREQs after resume", () => conns[0].packets.length === 3);
  peer.end();
  await listener.close();
});

Deno.test("tcp: after end(), a peer that does not close is destroyed at endLingerMs", async () => {
  const { conns, handler } = recordingHandler(undefined, (conn) => conn.end());
  const listener = await startListener(
    "tcp",
    config(),
    limits({ endLingerMs: 100 }),
    handler,
    silentLogger,
  );
  // allowHalfOpen: the client keeps its side open after our FIN.
  const socket = net.connect({ port: listener.port, host: "127.0.0.1", allowHalfOpen: true });
  const peer = peerOf(socket);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  peer.write(packet(0x10, 1));
  const t0 = Date.now();
  await waitFor("onClose after linger", () => conns[0]?.closes === 1, 2000);
  assert(Date.now() - t0 >= 80, "not before the linger time");
  assert(!peer.closed, "the half-open peer is still open on its side");
  socket.destroy();
  await listener.close();
});
