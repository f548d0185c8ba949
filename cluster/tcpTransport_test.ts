import { ok, rejects, strictEqual } from "node:assert/strict";
import net from "node:net";
import { createMemoryLogger, silentLogger } from "../log/jsonLog.ts";
import { encodeFrame } from "./frames.ts";
import { listenTcpTransport, type TcpTransportOptions } from "./tcpTransport.ts";
import { transportSuite } from "./transport.case.ts";
import { PeerUnavailableError, QueueFullError, RequestTimeoutError } from "./transport.ts";

/** A transport on 127.0.0.1, ephemeral port, env "e", secret "s", silent log, unless overridden. */
function listen(overrides: Partial<TcpTransportOptions> = {}) {
  return listenTcpTransport({
    host: "127.0.0.1",
    port: 0,
    env: "e",
    secret: "s",
    log: silentLogger,
    ...overrides,
  });
}

transportSuite({
  name: "tcp transport",
  create: ({ env, secret }) => listen({ env, secret }),
});

Deno.test("tcp transport: rejections are logged, the secret never crosses the wire", async () => {
  const logA = createMemoryLogger();
  const a = await listen({ secret: "alpha-secret", log: logA });
  const b = await listen({ secret: "beta-secret" });
  const c = await listen({ env: "f", secret: "alpha-secret" });
  try {
    b.send(a.localId, "x", new Uint8Array());
    c.send(a.localId, "x", new Uint8Array());
    const deadline = Date.now() + 3000;
    while (
      Date.now() < deadline &&
      logA.lines.filter((l) => l.event === "cluster.peer.rejected").length < 2
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const reasons = logA.lines.filter((l) => l.event === "cluster.peer.rejected").map((l) =>
      String(l.reason)
    );
    ok(reasons.some((r) => /env mismatch/.test(r)), JSON.stringify(reasons));
    ok(reasons.some((r) => /secret|refused/.test(r)), JSON.stringify(reasons));
    strictEqual(a.connectedPeers().length, 0);
    ok(!JSON.stringify(logA.lines).includes("alpha-secret"));
  } finally {
    await a.close();
    await b.close();
    await c.close();
  }
});

Deno.test("tcp transport: oversized frames and garbage before auth are dropped", async () => {
  const log = createMemoryLogger();
  const a = await listen({ log, config: { maxFrameBytes: 1024 } });
  const port = Number(a.localId.split(":")[1]);
  try {
    for (
      const bytes of [
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]),
        encodeFrame({ t: "hello", v: 99 }),
      ]
    ) {
      const sock = net.connect({ host: "127.0.0.1", port });
      const closed = new Promise<void>((r) => sock.on("close", () => r()));
      sock.on("error", () => {});
      sock.resume();
      sock.write(bytes);
      // The server should close the socket; never wait on it unbounded (a hang
      // under heavy load). Destroying it emits "close" too; the count below
      // still requires both rejections.
      const giveUp = setTimeout(() => sock.destroy(), 10_000);
      await closed;
      clearTimeout(giveUp);
    }
    strictEqual(log.lines.filter((l) => l.event === "cluster.peer.rejected").length, 2);
  } finally {
    await a.close();
  }
});

Deno.test("tcp transport: reconnects to a restarted peer, backpressure on a full queue", async () => {
  const a = await listen({ config: { maxQueuedFramesPerPeer: 4 } });
  let b = await listen();
  const bId = b.localId;
  const port = Number(bId.split(":")[1]);
  try {
    b.onRequest("ping", () => new Uint8Array([1]));
    strictEqual((await a.request(bId, "ping", new Uint8Array(), 2000))[0], 1);
    await b.close();
    await rejects(
      a.request(bId, "ping", new Uint8Array(), 500),
      (e) => e instanceof PeerUnavailableError || e instanceof RequestTimeoutError,
    );
    b = await listen({ port });
    b.onRequest("ping", () => new Uint8Array([2]));
    let answer: number | undefined;
    const deadline = Date.now() + 5000;
    while (answer === undefined && Date.now() < deadline) {
      try {
        answer = (await a.request(bId, "ping", new Uint8Array(), 300))[0];
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    strictEqual(answer, 2);
    // Backpressure: towards an unreachable peer the queue bound is hit at once.
    const nowhere = "127.0.0.1:1";
    const results = Array.from({ length: 10 }, () => a.send(nowhere, "x", new Uint8Array(8)));
    ok(results.includes(false), "send should refuse when the queue is full");
    await rejects(
      Promise.all(Array.from({ length: 10 }, () => a.request(nowhere, "x", new Uint8Array(), 500))),
      (e) => e instanceof QueueFullError || e instanceof PeerUnavailableError,
    );
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("tcp transport: large messages through a congested socket arrive whole and in order", async () => {
  const a = await listen({ config: { maxQueuedBytesPerPeer: 4 * 1024 * 1024 } });
  const b = await listen();
  try {
    const got: number[] = [];
    let corrupt = 0;
    b.onMessage("bulk", (_from, p) => {
      if (p.byteLength !== 256 * 1024 || p[p.byteLength - 1] !== p[0]) corrupt++;
      got.push(p[0]);
    });
    const accepted: number[] = [];
    for (let i = 0; i < 40; i++) {
      const payload = new Uint8Array(256 * 1024).fill(i);
      if (a.send(b.localId, "bulk", payload)) accepted.push(i);
    }
    ok(accepted.length < 40, "the 4 MiB queue bound must refuse some of 10 MiB");
    ok(accepted.length >= 10, `only ${accepted.length} accepted`);
    const deadline = Date.now() + 10_000;
    while (got.length < accepted.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    strictEqual(corrupt, 0);
    strictEqual(JSON.stringify(got), JSON.stringify(accepted));
    // Once drained, the queue accepts again.
    ok(a.send(b.localId, "bulk", new Uint8Array(256 * 1024)));
    strictEqual(a.queuedBytes(b.localId) <= 256 * 1024 + 64, true);
  } finally {
    await a.close();
    await b.close();
  }
});
