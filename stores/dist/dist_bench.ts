/**
 * Micro-benchmark of topic matching and route writes of the SQLite dist store.
 * Run: `deno run -A --v8-flags=--expose-gc stores/dist/dist_bench.ts`
 * (without the flag the heap figure is skipped). Prints one line per scenario.
 *
 * @module
 */
import { join } from "node:path";
import type { Route } from "./distStore.ts";
import { SqliteDistStore } from "./sqliteDistStore.ts";
import { RouteIndex } from "./routeIndex.ts";

const dir = await Deno.makeTempDir({ prefix: "dist_bench_" });
const OPTS = {
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: null,
} as const;

function route(filter: string, receiverId: string): Route {
  return { tenant: "default", filter, shareGroup: null, receiverId, incarnation: 1, options: OPTS };
}

// 100,000 routes: 1 exact subscriber per device topic, plus wildcard subscribers per site.
const SITES = 100;
const DEVICES = 1000;
const routes: Route[] = [];
for (let s = 0; s < SITES; s++) {
  for (let d = 0; d < DEVICES - 2; d++) {
    routes.push(route(`site/${s}/dev/${d}/temp`, `s:n1:${s}-${d}`));
  }
  routes.push(route(`site/${s}/+/+/temp`, `s:n1:w${s}`));
  routes.push(route(`site/${s}/#`, `s:n1:h${s}`));
}

for (const cache of [0, 1024]) {
  const store = new SqliteDistStore(join(dir, `dist-${cache}.db`), { matchCacheEntries: cache });
  let t0 = performance.now();
  for (let i = 0; i < routes.length; i += 1000) await store.addRoutes(routes.slice(i, i + 1000));
  const addMs = performance.now() - t0;
  if (cache === 0) {
    console.log(
      `addRoutes ${routes.length} routes in batches of 1000: ${addMs.toFixed(0)} ms (${
        Math.round(routes.length / (addMs / 1000)).toLocaleString("en-US")
      } routes/s)`,
    );
  }
  // Topics: 90% from a hot set of 500, 10% spread over all devices.
  const N = 300_000;
  const topics: string[] = [];
  for (let i = 0; i < N; i++) {
    const hot = i % 10 !== 0;
    const s = hot ? i % 5 : (i * 7919) % SITES;
    const d = hot ? i % 100 : (i * 104729) % DEVICES;
    topics.push(`site/${s}/dev/${d}/temp`);
  }
  let matched = 0;
  t0 = performance.now();
  for (const t of topics) matched += store.match("default", t).normal.length;
  const ms = performance.now() - t0;
  console.log(
    `match ${N} topics against ${store.routeCount()} routes, cache ${cache}: ${ms.toFixed(0)} ms (${
      Math.round(N / (ms / 1000)).toLocaleString("en-US")
    } matches/s, ${(ms * 1000 / N).toFixed(2)} µs each, ${matched} routes matched)`,
  );
  t0 = performance.now();
  const reopened = new SqliteDistStore(join(dir, `dist-${cache}.db`));
  if (cache === 0) {
    console.log(
      `reopen and rebuild the trie from ${reopened.routeCount()} routes: ${
        (performance.now() - t0).toFixed(0)
      } ms`,
    );
  }
  await reopened.close();
  await store.close();
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const index = new RouteIndex();
  for (const r of routes) index.put(r);
  gc();
  const perRoute = (Deno.memoryUsage().heapUsed - before) / routes.length;
  console.log(`route index heap: ${perRoute.toFixed(0)} B/route (${index.count} routes)`);
}
await Deno.remove(dir, { recursive: true });
