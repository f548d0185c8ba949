/**
 * The shared test suite every {@link SessionRegistry} implementation must pass
 * (local now, replicated later). Run by `localSessionRegistry_test.ts`.
 *
 * @module
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { ClientKey } from "../message.ts";
import type { SessionOwner, SessionRegistry } from "./sessionRegistry.ts";

/** How the suite opens an implementation. */
export interface SessionRegistryHarness {
  open(): Promise<SessionRegistry>;
  /** Closes what is still open and removes what `open` created; once per test. */
  cleanup(): Promise<void>;
}

const K: ClientKey = { tenant: "t", clientId: "c" };

/** Registers the shared tests under `name`; `makeHarness` is called once per test. */
export function sessionRegistrySuite(
  name: string,
  makeHarness: () => SessionRegistryHarness,
): void {
  function run(title: string, body: (r: SessionRegistry) => Promise<void>): void {
    Deno.test(`${name}: ${title}`, async () => {
      const h = makeHarness();
      try {
        const r = await h.open();
        await body(r);
        await r.close();
      } finally {
        await h.cleanup();
      }
    });
  }

  run("the first claim owns without displacing anyone", async (r) => {
    strictEqual(await r.owner(K), null);
    const { owner, displaced } = await r.claim(K, "n1", 1);
    strictEqual(displaced, null);
    strictEqual(owner.nodeId, "n1");
    strictEqual(owner.connectionId, 1);
    deepStrictEqual(await r.owner(K), owner);
  });

  run("a new claim displaces the owner and the kick listener hears it", async (r) => {
    const kicks: [ClientKey, SessionOwner, SessionOwner][] = [];
    const off = r.onKick((key, displaced, by) => kicks.push([key, displaced, by]));
    const a = await r.claim(K, "n1", 1);
    strictEqual(kicks.length, 0);
    const b = await r.claim(K, "n2", 7);
    deepStrictEqual(b.displaced, a.owner);
    deepStrictEqual(kicks, [[K, a.owner, b.owner]]);
    deepStrictEqual(await r.owner(K), b.owner);
    off();
    await r.claim(K, "n1", 2);
    strictEqual(kicks.length, 1, "an unsubscribed listener hears nothing");
  });

  run("incarnations increase with every claim, also after release", async (r) => {
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { owner } = await r.claim(K, "n1", i);
      seen.push(owner.incarnation);
      if (i % 2 === 0) await r.release(K, owner);
    }
    for (let i = 1; i < seen.length; i++) ok(seen[i] > seen[i - 1], `${seen}`);
  });

  run("release only by the current owner", async (r) => {
    const a = await r.claim(K, "n1", 1);
    const b = await r.claim(K, "n1", 2);
    await r.release(K, a.owner); // displaced: no effect
    deepStrictEqual(await r.owner(K), b.owner);
    await r.release(K, { ...b.owner, incarnation: b.owner.incarnation + 1 });
    deepStrictEqual(await r.owner(K), b.owner);
    await r.release(K, b.owner);
    strictEqual(await r.owner(K), null);
    await r.release(K, b.owner); // twice: no-op
  });

  run("keys are per tenant and client id", async (r) => {
    const kicks: ClientKey[] = [];
    r.onKick((key) => kicks.push(key));
    await r.claim({ tenant: "t", clientId: "c" }, "n1", 1);
    await r.claim({ tenant: "u", clientId: "c" }, "n1", 2);
    await r.claim({ tenant: "t", clientId: "d" }, "n1", 3);
    strictEqual(kicks.length, 0);
    strictEqual((await r.owner({ tenant: "u", clientId: "c" }))?.connectionId, 2);
  });

  run("a throwing listener does not stop the claim or other listeners", async (r) => {
    let heard = 0;
    r.onKick(() => {
      throw new Error("listener bug");
    });
    r.onKick(() => heard++);
    await r.claim(K, "n1", 1);
    const b = await r.claim(K, "n1", 2);
    strictEqual(heard, 1);
    deepStrictEqual(await r.owner(K), b.owner);
  });
}
