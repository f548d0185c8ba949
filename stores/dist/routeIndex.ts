/**
 * The in-memory view of the routes used for matching: one {@link TopicTrie}
 * per tenant, keyed by filter, plus a small LRU cache of topic → result that
 * any route change clears. A replica (local SQLite or a base-kv learner) keeps
 * one of its committed state; the local store also applies its own add/remove
 * calls at once with {@link RouteIndex.addGuarded} / {@link RouteIndex.removeGuarded}
 * (the rules of the dist commands) and reverts them with {@link RouteIndex.undo}
 * if their write fails.
 *
 * Memory: the index has no limit of its own; it holds one entry per stored
 * route, so it is bounded by what bounds the routes (the broker's
 * `maxSubscriptionsPerSession` times the sessions). Tenants and filters left
 * without routes are dropped. Match results are not kept per tenant: only the
 * shared LRU cache holds them, at most `matchCacheEntries` entries.
 *
 * @module
 */
import type { MatchResult, Route, RouteKey, RouteRemoval } from "./distStore.ts";
import { TopicTrie } from "./topicTrie.ts";

/** Routes of one filter in one tenant. */
interface FilterRoutes {
  /** Normal subscriptions by receiver id. */
  readonly normal: Map<string, Route>;
  /** Shared subscriptions by group, then receiver id (created on first use: most filters have none). */
  shared: Map<string, Map<string, Route>> | null;
}

const EMPTY_SHARED: ReadonlyMap<string, readonly Route[]> = new Map();
const EMPTY_RESULT: MatchResult = Object.freeze({
  normal: Object.freeze([]),
  shared: EMPTY_SHARED,
});

/** One change made to the index, enough to revert it: the key's route before it (if any). */
export interface RouteIndexChange {
  readonly key: RouteKey;
  readonly before: Route | undefined;
}

/** Options of {@link RouteIndex}. */
export interface RouteIndexOptions {
  /**
   * Entries of the topic → match result cache (0 disables it). Larger caches
   * help when few topics carry most traffic; every route change clears it.
   * Default 1024.
   */
  readonly matchCacheEntries?: number;
}

/** In-memory route index; see the module docs. */
export class RouteIndex {
  readonly #tenants = new Map<string, TopicTrie<FilterRoutes>>();
  readonly #cache = new Map<string, MatchResult>();
  readonly #cacheMax: number;
  #count = 0;
  #cacheHits = 0;
  #cacheMisses = 0;

  /** Creates the instance; see the class docs for the options. */
  constructor(options: RouteIndexOptions = {}) {
    const max = options.matchCacheEntries ?? 1024;
    if (!Number.isInteger(max) || max < 0) {
      throw new RangeError(`matchCacheEntries must be a non-negative integer, got ${max}`);
    }
    this.#cacheMax = max;
  }

  /** Number of routes. */
  get count(): number {
    return this.#count;
  }

  /** Cache hit/miss counters (for metrics). */
  cacheStats(): { hits: number; misses: number; entries: number } {
    return { hits: this.#cacheHits, misses: this.#cacheMisses, entries: this.#cache.size };
  }

  /** The stored route with this key, if any. */
  get(key: RouteKey): Route | undefined {
    const fr = this.#tenants.get(key.tenant)?.get(key.filter);
    if (fr === undefined) return undefined;
    if (key.shareGroup === null) return fr.normal.get(key.receiverId);
    return fr.shared?.get(key.shareGroup)?.get(key.receiverId);
  }

  /** Adds or replaces a route. */
  put(route: Route): void {
    this.#cache.clear();
    let trie = this.#tenants.get(route.tenant);
    if (trie === undefined) {
      trie = new TopicTrie<FilterRoutes>();
      this.#tenants.set(route.tenant, trie);
    }
    let fr = trie.get(route.filter);
    if (fr === undefined) {
      fr = { normal: new Map(), shared: null };
      trie.set(route.filter, fr);
    }
    let map = fr.normal;
    if (route.shareGroup !== null) {
      const shared = fr.shared ??= new Map();
      let g = shared.get(route.shareGroup);
      if (g === undefined) {
        g = new Map();
        shared.set(route.shareGroup, g);
      }
      map = g;
    }
    if (!map.has(route.receiverId)) this.#count++;
    map.set(route.receiverId, route);
  }

  /** Removes the route with this key. Returns whether it existed. */
  remove(key: RouteKey): boolean {
    const trie = this.#tenants.get(key.tenant);
    const fr = trie?.get(key.filter);
    if (trie === undefined || fr === undefined) return false;
    let removed: boolean;
    if (key.shareGroup === null) removed = fr.normal.delete(key.receiverId);
    else {
      const g = fr.shared?.get(key.shareGroup);
      removed = g?.delete(key.receiverId) ?? false;
      if (g !== undefined && g.size === 0) fr.shared?.delete(key.shareGroup);
      if (fr.shared?.size === 0) fr.shared = null;
    }
    if (!removed) return false;
    this.#count--;
    this.#cache.clear();
    if (fr.normal.size === 0 && fr.shared === null) {
      trie.delete(key.filter);
      if (trie.isEmpty()) this.#tenants.delete(key.tenant);
    }
    return true;
  }

  /**
   * Adds or replaces routes as the `addRoutes` dist command does: a route
   * whose stored namesake has a newer incarnation is ignored. Appends to
   * `changes` what it changed, in order.
   */
  addGuarded(routes: readonly Route[], changes: RouteIndexChange[]): void {
    for (const r of routes) {
      const before = this.get(r);
      if (before !== undefined && before.incarnation > r.incarnation) continue;
      this.put(r);
      changes.push({ key: r, before });
    }
  }

  /**
   * Removes routes as the `removeRoutes` dist command does: only when the
   * stored incarnation is <= the removal's. Appends to `changes` what it removed.
   */
  removeGuarded(removals: readonly RouteRemoval[], changes: RouteIndexChange[]): void {
    for (const k of removals) {
      const before = this.get(k);
      if (before === undefined || before.incarnation > k.incarnation) continue;
      this.remove(k);
      changes.push({ key: k, before });
    }
  }

  /** Reverts `changes` (made in that order, and the last ones made), newest first. */
  undo(changes: readonly RouteIndexChange[]): void {
    for (let i = changes.length - 1; i >= 0; i--) {
      const { key, before } = changes[i];
      if (before === undefined) this.remove(key);
      else this.put(before);
    }
  }

  /** Drops everything (before a rebuild). */
  clear(): void {
    this.#tenants.clear();
    this.#cache.clear();
    this.#count = 0;
  }

  /** Routes whose filter matches `topic` in `tenant` (MQTT rules). */
  match(tenant: string, topic: string): MatchResult {
    const trie = this.#tenants.get(tenant);
    if (trie === undefined) return EMPTY_RESULT;
    if (this.#cacheMax === 0) return this.#compute(trie, topic);
    const cacheKey = tenant + "\u0000" + topic;
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined) {
      this.#cacheHits++;
      // Refresh recency: Map iterates in insertion order, so the first key is the LRU.
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, hit);
      return hit;
    }
    this.#cacheMisses++;
    const result = this.#compute(trie, topic);
    if (this.#cache.size >= this.#cacheMax) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(cacheKey, result);
    return result;
  }

  #compute(trie: TopicTrie<FilterRoutes>, topic: string): MatchResult {
    let normal: Route[] | null = null;
    let shared: Map<string, Route[]> | null = null;
    trie.forEachFilterMatching(topic, (fr) => {
      if (fr.normal.size > 0) {
        normal ??= [];
        for (const r of fr.normal.values()) normal.push(r);
      }
      if (fr.shared !== null) {
        shared ??= new Map();
        for (const [group, members] of fr.shared) {
          const first = members.values().next();
          if (first.done === true) continue;
          shared.set(`${group}\u0000${first.value.filter}`, [...members.values()]);
        }
      }
    });
    if (normal === null && shared === null) return EMPTY_RESULT;
    return { normal: normal ?? EMPTY_RESULT.normal, shared: shared ?? EMPTY_SHARED };
  }
}
