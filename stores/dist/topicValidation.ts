/**
 * MQTT topic names, topic filters and shared-subscription filters: validation
 * (shared with the protocol layer) and the reference matcher.
 *
 * Rules (MQTT 3.1.1 §4.7, 5.0 §4.7–4.8): levels are separated by `/`; an empty
 * level is a level; `+` matches exactly one level and must fill its level; `#`
 * matches the rest including the parent level (`a/#` matches `a`) and must be
 * the last level, alone; topic names carry no wildcards; nothing contains
 * U+0000; topics starting with `$` are not matched by a filter whose first
 * level is a wildcard.
 *
 * @module
 */

/** Limits on topic names and filters. */
export interface TopicLimits {
  /** Longest topic name/filter in UTF-8 bytes. MQTT's own limit is 65,535. */
  readonly maxTopicBytes: number;
  /** Most levels (`/`-separated parts) in a topic name or filter. */
  readonly maxTopicLevels: number;
}

/** Default limits: the protocol maximum length and 128 levels. */
export const DEFAULT_TOPIC_LIMITS: TopicLimits = Object.freeze({
  maxTopicBytes: 65535,
  maxTopicLevels: 128,
});

/** The prefix of a shared-subscription filter. */
export const SHARE_PREFIX = "$share/";

/** Length of `s` in UTF-8 bytes, without encoding it. */
export function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function commonError(kind: string, s: string, limits: TopicLimits): string | null {
  if (s.length === 0) return `${kind} is empty`;
  const bytes = utf8ByteLength(s);
  if (bytes > limits.maxTopicBytes) {
    return `${kind} is ${bytes} bytes long, more than maxTopicBytes=${limits.maxTopicBytes}`;
  }
  if (s.includes("\u0000")) return `${kind} ${JSON.stringify(s)} contains U+0000`;
  if (!s.isWellFormed()) return `${kind} ${JSON.stringify(s)} contains a lone UTF-16 surrogate`;
  let levels = 1;
  for (let i = s.indexOf("/"); i !== -1; i = s.indexOf("/", i + 1)) levels++;
  if (levels > limits.maxTopicLevels) {
    return `${kind} has ${levels} levels, more than maxTopicLevels=${limits.maxTopicLevels}`;
  }
  return null;
}

/** Why `topic` is not a valid topic name (for PUBLISH), or null when it is. */
export function topicNameError(
  topic: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): string | null {
  const e = commonError("topic name", topic, limits);
  if (e !== null) return e;
  if (topic.includes("+") || topic.includes("#")) {
    return `topic name ${JSON.stringify(topic)} contains a wildcard (+ or #)`;
  }
  return null;
}

/** Whether `topic` is a valid topic name (no wildcards, no U+0000, within limits). */
export function validTopicName(topic: string, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): boolean {
  return topicNameError(topic, limits) === null;
}

/** Why `filter` is not a valid topic filter, or null when it is. Does not parse `$share/`. */
export function topicFilterError(
  filter: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): string | null {
  const e = commonError("topic filter", filter, limits);
  if (e !== null) return e;
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) {
      return `topic filter ${JSON.stringify(filter)}: '#' must be alone in the last level`;
    }
    if (l.includes("+") && l !== "+") {
      return `topic filter ${JSON.stringify(filter)}: '+' must be alone in its level`;
    }
  }
  return null;
}

/** Whether `filter` is a valid topic filter (wildcards well placed, within limits). */
export function validTopicFilter(
  filter: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): boolean {
  return topicFilterError(filter, limits) === null;
}

/** Result of {@link parseSharedFilter}. */
export type ParsedFilter =
  | { readonly ok: true; readonly group: string | null; readonly filter: string }
  | { readonly ok: false; readonly error: string };

/**
 * Splits a subscription filter as sent by a client: `$share/{group}/{filter}`
 * gives the group and the inner filter; any other filter gives `group: null`.
 * The group must be non-empty without `+`, `#` or `/`; the inner filter must be
 * a valid topic filter. Limits apply to the inner filter.
 */
export function parseSharedFilter(
  full: string,
  limits: TopicLimits = DEFAULT_TOPIC_LIMITS,
): ParsedFilter {
  if (!full.startsWith(SHARE_PREFIX)) {
    const error = topicFilterError(full, limits);
    return error === null ? { ok: true, group: null, filter: full } : { ok: false, error };
  }
  const slash = full.indexOf("/", SHARE_PREFIX.length);
  if (slash === -1) {
    return { ok: false, error: `shared filter ${JSON.stringify(full)} has no topic filter` };
  }
  const group = full.slice(SHARE_PREFIX.length, slash);
  if (group.length === 0) {
    return { ok: false, error: `shared filter ${JSON.stringify(full)} has an empty group name` };
  }
  if (group.includes("+") || group.includes("#") || group.includes("\u0000")) {
    return {
      ok: false,
      error: `shared filter ${JSON.stringify(full)}: group ${
        JSON.stringify(group)
      } contains a wildcard or U+0000`,
    };
  }
  const filter = full.slice(slash + 1);
  const error = topicFilterError(filter, limits);
  if (error !== null) {
    return { ok: false, error: `shared filter ${JSON.stringify(full)}: ${error}` };
  }
  return { ok: true, group, filter };
}

/**
 * Reference matcher: whether `topic` (a valid topic name) matches `filter` (a
 * valid topic filter). Simple and slow; the tries are checked against it.
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  const t = topic.split("/");
  const f = filter.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return t.length === f.length;
}
