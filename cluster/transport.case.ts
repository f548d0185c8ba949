/**
 * One test suite for every {@link Transport} implementation (memory, TCP).
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  PeerUnavailableError,
  RemoteError,
  RequestTimeoutError,
  type Transport,
} from "./transport.ts";

/** Creates a transport of the implementation under test. */
export interface TransportFactory {
  name: string;
  create(options: { env: string; secret: string }): Promise<Transport>;
  /** Releases what the factory holds (after every transport is closed). */
  dispose?(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function waitFor(predicate: () => boolean, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return predicate();
}

async function withTransports(
  factory: TransportFactory,
  specs: { env: string; secret: string }[],
  body: (ts: Transport[]) => Promise<void>,
): Promise<void> {
  const ts: Transport[] = [];
  try {
    for (const s of specs) ts.push(await factory.create(s));
    await body(ts);
  } finally {
    for (const t of ts) await t.close();
    await factory.dispose?.();
  }
}

const good = { env: "test", secret: "s3cret" };

/** Registers the shared transport tests for `factory`. */
export function transportSuite(factory: TransportFactory): void {
  const name = factory.name;

  Deno.test(`${name}: one-way messages arrive in order with the sender's id`, async () => {
    await withTransports(factory, [good, good], async ([a, b]) => {
      const got: string[] = [];
      b.onMessage("chat", (from, payload) => got.push(`${from}>${dec.decode(payload)}`));
      for (let i = 0; i < 50; i++) ok(a.send(b.localId, "chat", enc.encode(`m${i}`)));
      ok(await waitFor(() => got.length === 50, 5000), `got ${got.length} of 50`);
      deepStrictEqual(got, Array.from({ length: 50 }, (_, i) => `${a.localId}>m${i}`));
    });
  });

  Deno.test(`${name}: request/response both ways, remote errors, unknown channel`, async () => {
    await withTransports(factory, [good, good], async ([a, b]) => {
      b.onRequest("echo", (from, p) => enc.encode(`${from}:${dec.decode(p)}`));
      a.onRequest("fail", () => {
        throw new Error("boom");
      });
      strictEqual(
        dec.decode(await a.request(b.localId, "echo", enc.encode("hi"), 3000)),
        `${a.localId}:hi`,
      );
      await rejects(
        b.request(a.localId, "fail", new Uint8Array(), 3000),
        (e) => e instanceof RemoteError && /boom/.test(e.message),
      );
      await rejects(a.request(b.localId, "nope", new Uint8Array(), 3000), RemoteError);
    });
  });

  Deno.test(`${name}: a request without an answer times out`, async () => {
    await withTransports(factory, [good, good], async ([a, b]) => {
      let release = () => {};
      b.onRequest(
        "slow",
        () => new Promise<Uint8Array>((r) => (release = () => r(new Uint8Array()))),
      );
      const started = Date.now();
      await rejects(a.request(b.localId, "slow", new Uint8Array(), 200), RequestTimeoutError);
      ok(Date.now() - started >= 190);
      release();
      await new Promise((r) => setTimeout(r, 20));
    });
  });

  Deno.test(`${name}: a peer with the wrong secret or another env is never admitted`, async () => {
    await withTransports(
      factory,
      [good, { env: "test", secret: "wrong" }, { env: "other", secret: "s3cret" }],
      async ([a, badSecret, badEnv]) => {
        let delivered = 0;
        let served = 0;
        for (const t of [a, badSecret, badEnv]) {
          t.onMessage("x", () => delivered++);
          t.onRequest("x", () => {
            served++;
            return new Uint8Array();
          });
        }
        for (const intruder of [badSecret, badEnv]) {
          intruder.send(a.localId, "x", new Uint8Array([1]));
          a.send(intruder.localId, "x", new Uint8Array([1]));
          await rejects(
            intruder.request(a.localId, "x", new Uint8Array(), 500),
            (e) => e instanceof PeerUnavailableError || e instanceof RequestTimeoutError,
          );
          await rejects(
            a.request(intruder.localId, "x", new Uint8Array(), 500),
            (e) => e instanceof PeerUnavailableError || e instanceof RequestTimeoutError,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
        strictEqual(delivered, 0);
        strictEqual(served, 0);
      },
    );
  });

  Deno.test(`${name}: request to an unreachable peer fails`, async () => {
    await withTransports(factory, [good, good], async ([a, b]) => {
      const gone = b.localId;
      await b.close();
      await rejects(
        a.request(gone, "x", new Uint8Array(), 1000),
        (e) => e instanceof PeerUnavailableError || e instanceof RequestTimeoutError,
      );
    });
  });
}
