/**
 * A trie over `/`-separated topic levels holding one value per key. Keys are
 * either topic filters (dist: "which filters match this topic?") or topic
 * names (retain: "which topics match this filter?"); the trie itself does not
 * care, the two match methods do.
 *
 * @module
 */

class TrieNode<T> {
  /** Children by level, except the wildcard levels, which have their own fields (hot path). */
  children: Map<string, TrieNode<T>> | null = null;
  plus: TrieNode<T> | null = null;
  hash: TrieNode<T> | null = null;
  value: T | undefined = undefined;

  child(level: string): TrieNode<T> | undefined {
    if (level === "+") return this.plus ?? undefined;
    if (level === "#") return this.hash ?? undefined;
    return this.children?.get(level);
  }

  addChild(level: string): TrieNode<T> {
    const existing = this.child(level);
    if (existing !== undefined) return existing;
    const n = new TrieNode<T>();
    if (level === "+") this.plus = n;
    else if (level === "#") this.hash = n;
    else (this.children ??= new Map()).set(level, n);
    return n;
  }

  removeChild(level: string): void {
    if (level === "+") this.plus = null;
    else if (level === "#") this.hash = null;
    else {
      this.children?.delete(level);
      if (this.children?.size === 0) this.children = null;
    }
  }

  isLeafless(): boolean {
    return (this.children === null || this.children.size === 0) && this.plus === null &&
      this.hash === null;
  }

  /** Every child with its level (wildcard levels included). */
  *entries(): Generator<[string, TrieNode<T>]> {
    if (this.children !== null) yield* this.children;
    if (this.plus !== null) yield ["+", this.plus];
    if (this.hash !== null) yield ["#", this.hash];
  }
}

/** A trie of topic levels; see the module docs. */
export class TopicTrie<T> {
  readonly #root = new TrieNode<T>();
  #size = 0;

  /** Number of keys holding a value. */
  get size(): number {
    return this.#size;
  }

  /** The value stored under `key`, if any. */
  get(key: string): T | undefined {
    let node: TrieNode<T> | undefined = this.#root;
    for (const level of key.split("/")) {
      node = node.child(level);
      if (node === undefined) return undefined;
    }
    return node.value;
  }

  /** Stores `value` under `key` (replacing any). */
  set(key: string, value: T): void {
    let node = this.#root;
    for (const level of key.split("/")) node = node.addChild(level);
    if (node.value === undefined) this.#size++;
    node.value = value;
  }

  /** Removes `key`, pruning nodes left empty. Returns whether it held a value. */
  delete(key: string): boolean {
    const levels = key.split("/");
    const path: TrieNode<T>[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const next = node.child(level);
      if (next === undefined) return false;
      path.push(next);
      node = next;
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.value !== undefined || !n.isLeafless()) break;
      path[i - 1].removeChild(levels[i - 1]);
    }
    return true;
  }

  /**
   * Calls `visit` with the value of every stored FILTER that matches the topic
   * name `topic` (MQTT rules, including `$` topics and `a/#` matching `a`).
   */
  forEachFilterMatching(topic: string, visit: (value: T) => void): void {
    const levels = topic.split("/");
    matchFilters(this.#root, levels, 0, topic.charCodeAt(0) === 36, /* "$" */ visit);
  }

  /**
   * Calls `visit` with the value of every stored TOPIC NAME that the filter
   * `filter` matches (MQTT rules). Order is unspecified.
   */
  forEachTopicMatching(filter: string, visit: (value: T) => void): void {
    const levels = filter.split("/");
    const all = (node: TrieNode<T>, root: boolean): void => {
      if (node.value !== undefined) visit(node.value);
      for (const [level, child] of node.entries()) {
        if (root && level.charCodeAt(0) === 36) continue;
        all(child, false);
      }
    };
    const walk = (node: TrieNode<T>, i: number): void => {
      if (i === levels.length) {
        if (node.value !== undefined) visit(node.value);
        return;
      }
      const level = levels[i];
      if (level === "#") {
        // The parent level matches too (`a/#` matches `a`); the root holds no topic.
        if (i === 0) all(node, true);
        else all(node, false);
        return;
      }
      if (level === "+") {
        for (const [name, child] of node.entries()) {
          if (i === 0 && name.charCodeAt(0) === 36) continue;
          walk(child, i + 1);
        }
        return;
      }
      const literal = node.child(level);
      if (literal !== undefined) walk(literal, i + 1);
    };
    walk(this.#root, 0);
  }

  /** Calls `visit` with every stored value. */
  forEach(visit: (value: T) => void): void {
    const all = (node: TrieNode<T>): void => {
      if (node.value !== undefined) visit(node.value);
      if (node.children !== null) { for (const c of node.children.values()) all(c); }
    };
    all(this.#root);
  }

  /** Whether the trie holds no value (and, after deletes, no nodes). */
  isEmpty(): boolean {
    return this.#size === 0;
  }
}

/** Filters matching `levels[i..]` below `node` (a module function: no closure per call). */
function matchFilters<T>(
  node: TrieNode<T>,
  levels: readonly string[],
  i: number,
  dollar: boolean,
  visit: (value: T) => void,
): void {
  const hash = node.hash;
  if (i === levels.length) {
    if (node.value !== undefined) visit(node.value);
    if (hash !== null && hash.value !== undefined) visit(hash.value); // `a/#` matches `a`
    return;
  }
  if (i > 0 || !dollar) {
    if (hash !== null && hash.value !== undefined) visit(hash.value);
    if (node.plus !== null) matchFilters(node.plus, levels, i + 1, dollar, visit);
  }
  const literal = node.children?.get(levels[i]);
  if (literal !== undefined) matchFilters(literal, levels, i + 1, dollar, visit);
}
