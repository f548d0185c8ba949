/**
 * A {@link DistStore} in memory with the same semantics as the SQLite one
 * (validation, incarnation guards): for tests and single-process tools.
 *
 * @module
 */
import { StoreClosedError } from "../sqlite/database.ts";
import { validateRoute } from "./distCommands.ts";
import type { DistStore, MatchResult, Route, RouteKey, RouteRemoval } from "./distStore.ts";
import { RouteIndex, type RouteIndexOptions } from "./routeIndex.ts";

function keyOf(k: RouteKey): string {
  return `${k.tenant}\u0000${k.shareGroup ?? ""}\u0000${k.filter}\u0000${k.receiverId}`;
}

/** In-memory dist store; see the module docs. */
export class MemoryDistStore implements DistStore {
  readonly #index: RouteIndex;
  readonly #routes = new Map<string, Route>();
  #closed = false;

  /** Creates the instance; see the class docs for the options. */
  constructor(options: RouteIndexOptions = {}) {
    this.#index = new RouteIndex(options);
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError("memory dist store");
  }

  addRoutes(routes: readonly Route[]): Promise<void> {
    try {
      this.#check();
      for (const r of routes) validateRoute(r);
      for (const r of routes) {
        const k = keyOf(r);
        const cur = this.#routes.get(k);
        if (cur !== undefined && cur.incarnation > r.incarnation) continue;
        this.#routes.set(k, r);
        this.#index.put(r);
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  removeRoutes(removals: readonly RouteRemoval[]): Promise<void> {
    try {
      this.#check();
      for (const r of removals) {
        const k = keyOf(r);
        const cur = this.#routes.get(k);
        if (cur === undefined || cur.incarnation > r.incarnation) continue;
        this.#routes.delete(k);
        this.#index.remove(r);
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  removeTransientRoutesOfNode(nodeId: string): Promise<number> {
    try {
      this.#check();
      if (nodeId.length === 0) throw new RangeError("nodeId is empty");
      const prefix = `s:${nodeId}:`;
      let n = 0;
      for (const [k, r] of this.#routes) {
        if (!r.receiverId.startsWith(prefix) || r.receiverId.includes(":", prefix.length)) continue;
        this.#routes.delete(k);
        this.#index.remove(r);
        n++;
      }
      return Promise.resolve(n);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  match(tenant: string, topic: string): MatchResult {
    this.#check();
    return this.#index.match(tenant, topic);
  }

  routeCount(): number {
    return this.#routes.size;
  }

  /** Releases what the instance holds; further calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
