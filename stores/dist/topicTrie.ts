/**
 * A trie over `/`-separated topic levels holding one value per key. Keys are
 * either topic filters (dist: "which filters match this topic?") or topic
 * names (retain: "which topics match this filter?"); the trie itself does not
 * care, the two match methods do.
 *
 * @module
 */

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | null = null;
  value: T | undefined = undefined;
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
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node.value;
  }

  /** Stores `value` under `key` (replacing any). */
  set(key: string, value: T): void {
    let node = this.#root;
    for (const level of key.split("/")) {
      const children: Map<string, TrieNode<T>> = node.children ??= new Map();
      let next = children.get(level);
      if (next === undefined) {
        next = new TrieNode<T>();
        children.set(level, next);
      }
      node = next;
    }
    if (node.value === undefined) this.#size++;
    node.value = value;
  }

  /** Removes `key`, pruning nodes left empty. Returns whether it held a value. */
  delete(key: string): boolean {
    const levels = key.split("/");
    const path: TrieNode<T>[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const next = node.children?.get(level);
      if (next === undefined) return false;
      path.push(next);
      node = next;
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.value !== undefined || (n.children !== null && n.children.size > 0)) break;
      const parent = path[i - 1];
      parent.children?.delete(levels[i - 1]);
      if (parent.children?.size === 0) parent.children = null;
    }
    return true;
  }

  /**
   * Calls `visit` with the value of every stored FILTER that matches the topic
   * name `topic` (MQTT rules, including `$` topics and `a/#` matching `a`).
   */
  forEachFilterMatching(topic: string, visit: (value: T) => void): void {
    const levels = topic.split("/");
    const dollar = topic.charCodeAt(0) === 36; // "$"
    const walk = (node: TrieNode<T>, i: number): void => {
      const children = node.children;
      if (i === levels.length) {
        if (node.value !== undefined) visit(node.value);
        const hash = children?.get("#");
        if (hash?.value !== undefined) visit(hash.value);
        return;
      }
      if (children === null) return;
      if (i > 0 || !dollar) {
        const hash = children.get("#");
        if (hash?.value !== undefined) visit(hash.value);
        const plus = children.get("+");
        if (plus !== undefined) walk(plus, i + 1);
      }
      const literal = children.get(levels[i]);
      if (literal !== undefined) walk(literal, i + 1);
    };
    walk(this.#root, 0);
  }

  /**
   * Calls `visit` with the value of every stored TOPIC NAME that the filter
   * `filter` matches (MQTT rules). Order is unspecified.
   */
  forEachTopicMatching(filter: string, visit: (value: T) => void): void {
    const levels = filter.split("/");
    const all = (node: TrieNode<T>, root: boolean): void => {
      if (node.value !== undefined) visit(node.value);
      if (node.children === null) return;
      for (const [level, child] of node.children) {
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
      const children = node.children;
      if (children === null) return;
      if (level === "+") {
        for (const [name, child] of children) {
          if (i === 0 && name.charCodeAt(0) === 36) continue;
          walk(child, i + 1);
        }
        return;
      }
      const literal = children.get(level);
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
