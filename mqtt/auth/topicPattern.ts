/**
 * Pure MQTT topic-filter math for ACLs: validity, matching a topic, and
 * whether one filter covers another (every topic the second can match is
 * matched by the first). Works on level arrays (`"a/+/#"` → `["a","+","#"]`).
 *
 * MQTT rules honoured: `#` only as the whole last level (it also matches the
 * parent, `a/#` matches `a`); `+` a whole level (it matches an empty level);
 * a filter starting with a wildcard never matches a topic starting with `$`.
 *
 * @module
 */

/** Splits a topic or filter into levels. */
export function levelsOf(topicOrFilter: string): string[] {
  return topicOrFilter.split("/");
}

/** Why `filter` is not a valid MQTT topic filter, or null when it is. */
export function filterProblem(filter: string): string | null {
  if (filter.length === 0) return "a topic filter must not be empty";
  if (filter.includes("\u0000")) return "a topic filter must not contain U+0000";
  const levels = levelsOf(filter);
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return `"#" must be the whole last level, got level "${level}" at position ${i}`;
    }
    if (level.includes("+") && level !== "+") {
      return `"+" must be a whole level, got level "${level}" at position ${i}`;
    }
  }
  return null;
}

/** Why `topic` is not a valid topic name (no wildcards), or null. */
export function topicProblem(topic: string): string | null {
  if (topic.length === 0) return "a topic must not be empty";
  if (topic.includes("+") || topic.includes("#") || topic.includes("\u0000")) {
    return `a topic must not contain "+", "#" or U+0000, got "${topic}"`;
  }
  return null;
}

function isWildcard(level: string): boolean {
  return level === "+" || level === "#";
}

/** True when the (valid) filter levels match the topic levels. */
export function filterMatchesTopic(filter: readonly string[], topic: readonly string[]): boolean {
  if (topic.length > 0 && topic[0].startsWith("$") && filter.length > 0 && isWildcard(filter[0])) {
    return false;
  }
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === "#") return true; // also the parent: topic.length === i
    if (i >= topic.length) return false;
    if (f !== "+" && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/**
 * True when every valid topic matched by `inner` is also matched by `outer`
 * (both valid filters). Checked against a brute-force oracle in the tests.
 */
export function filterCovers(outer: readonly string[], inner: readonly string[]): boolean {
  const dollar = inner.length > 0 && inner[0].startsWith("$");
  if (dollar && outer.length > 0 && isWildcard(outer[0])) return false;
  for (let i = 0; i < inner.length; i++) {
    const o = i < outer.length ? outer[i] : undefined;
    if (o === "#") return true;
    const f = inner[i];
    if (f === "#") {
      // inner matches prefix + any suffix, and the prefix itself when that is
      // a valid topic: not for "#" (no zero-level topic) nor "/#" (topic "").
      const parentIsTopic = i > 1 || (i === 1 && inner[0] !== "");
      if (parentIsTopic) return false; // outer[i] would have to be "#"
      return o === "+" && outer.length === i + 2 && outer[i + 1] === "#";
    }
    if (o === undefined) return false;
    if (f === "+") {
      if (o !== "+") return false;
    } else if (o !== "+" && o !== f) return false;
  }
  // inner has no "#": it matches topics of exactly inner.length levels.
  if (outer.length === inner.length) return true;
  return outer.length === inner.length + 1 && outer[inner.length] === "#";
}

/**
 * True when some valid topic is matched by both (valid) filters. Checked
 * against a brute-force oracle in the tests.
 */
export function filtersIntersect(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === 0 || b.length === 0) return false;
  const aDollar = !isWildcard(a[0]) && a[0].startsWith("$");
  const bDollar = !isWildcard(b[0]) && b[0].startsWith("$");
  if ((aDollar && isWildcard(b[0])) || (bDollar && isWildcard(a[0]))) return false;
  for (let i = 0;; i++) {
    const x = i < a.length ? a[i] : undefined;
    const y = i < b.length ? b[i] : undefined;
    if (x === undefined && y === undefined) return true; // same length, compatible
    if (x === undefined || y === undefined) {
      // One filter ends at i levels: the other must be ".../#" matching that parent,
      // and the parent (i levels) must be a valid topic ("" is not).
      const longer = x === undefined ? b : a;
      if (longer[i] !== "#") return false;
      return i >= 2 || (a[0] !== "" && b[0] !== "");
    }
    if (x === "#" || y === "#") return true; // the other matches some topic from here
    if (x !== "+" && y !== "+" && x !== y) return false;
  }
}

/**
 * {@link filterMatchesTopic} on the topic string, without splitting it (no
 * allocation; used per delivery).
 */
export function filterMatchesTopicString(filter: readonly string[], topic: string): boolean {
  if (
    topic.charCodeAt(0) === 0x24 /* $ */ && filter.length > 0 && isWildcard(filter[0])
  ) return false;
  const n = topic.length;
  let pos = 0; // start of the current topic level; n + 1 once all levels are consumed
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === "#") return true;
    if (pos > n) return false;
    let end = topic.indexOf("/", pos);
    if (end < 0) end = n;
    if (f !== "+" && (end - pos !== f.length || !topic.startsWith(f, pos))) return false;
    pos = end + 1;
  }
  return pos === n + 1;
}
