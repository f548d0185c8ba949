/**
 * Topic ACLs: an ordered rule list, first match wins.
 *
 * A rule `{tenant?, user?, clientId?, action, topic, allow}` applies when its
 * tenant / user / clientId (if given) equal the client's, and its `topic`
 * pattern (an MQTT filter) matches:
 * - publish (`checkPublish`): the pattern matches the topic name;
 * - subscribe (`checkSubscribe`), as mosquitto does: the first rule whose
 *   pattern covers the filter (every topic the filter can match is matched
 *   by the pattern: `sensors/#` covers `sensors/+/temp`, `sensors/+` does not
 *   cover `sensors/#`) decides: allow grants; deny refuses, unless an earlier
 *   allow rule overlapped the filter (some of its topics are allowed). A rule
 *   that only overlaps the filter does not decide: an allow marks the filter
 *   partly allowed, a deny is skipped. With no deciding rule, a partly allowed
 *   filter is granted, else `aclDefault` decides. So `deny secret/#` refuses
 *   `secret/#` and `secret/x` but grants `#`: that is safe because every
 *   message is checked again at delivery (below), where `secret/x` is
 *   filtered out. A `$share/<group>/` prefix is removed first;
 * - deliver (`checkDeliver`): the subscribe action against a concrete topic,
 *   for filtering messages before they go out. Every message sent to a client
 *   (live, retained, queued in a persistent session) goes through it.
 * `action: "all"` applies to both. With no applicable rule the result is
 * `aclDefault` ("allow" unless configured "deny").
 *
 * `%u` and `%c` in the pattern stand for the user name and client id. A rule
 * with `%u` does not apply to anonymous clients. When the value substituted
 * contains `+` or `#`, the rule denies everything (as mosquitto does): a
 * topic check that reaches it is denied, and for a subscription it is a deny
 * rule covering every filter. So a client id "#" cannot widen `clients/%c/#`.
 * `/` in a value is substituted as is and splits levels.
 *
 * @module
 */

import {
  filterCovers,
  filterMatchesTopicString,
  filterProblem,
  filtersIntersect,
  levelsOf,
} from "./topicPattern.ts";

/** What a rule is about. */
export type AclAction = "publish" | "subscribe" | "all";

/** One ACL rule, as in the configuration. */
export interface AclRule {
  tenant?: string;
  user?: string;
  clientId?: string;
  action: AclAction;
  /** MQTT filter; may contain `%u` and `%c`. */
  topic: string;
  allow: boolean;
}

/** ACL configuration: rules in order, and the result when none applies. */
export interface AclConfig {
  rules: AclRule[];
  /** Default "allow". */
  aclDefault?: "allow" | "deny";
}

/** Who is asking. */
export interface AclContext {
  tenant: string;
  /** User within the tenant; null when anonymous. */
  user: string | null;
  clientId: string;
}

/** The compiled ACL. */
export interface Acl {
  /** May this client publish to `topic` (a topic name)? */
  checkPublish(ctx: AclContext, topic: string): boolean;
  /** May this client subscribe to `filter` (a topic filter, `$share/g/` allowed)? */
  checkSubscribe(ctx: AclContext, filter: string): boolean;
  /** May a message on `topic` be delivered to this client? */
  checkDeliver(ctx: AclContext, topic: string): boolean;
}

const ACTIONS: readonly AclAction[] = ["publish", "subscribe", "all"];
const RULE_FIELDS = new Set(["tenant", "user", "clientId", "action", "topic", "allow"]);

interface CompiledRule {
  rule: AclRule;
  publish: boolean;
  subscribe: boolean;
  /** Levels when the pattern has no placeholder. */
  levels: string[] | null;
  usesUser: boolean;
  usesClientId: boolean;
}

/**
 * Validates rules from configuration (e.g. parsed YAML). Errors name the rule
 * index, field and value.
 */
export function parseAclConfig(value: unknown): AclConfig {
  if (!isRecord(value)) throw new Error(`acl must be an object, got ${describe(value)}`);
  const { rules, aclDefault } = value;
  if (aclDefault !== undefined && aclDefault !== "allow" && aclDefault !== "deny") {
    throw new Error(`aclDefault must be "allow" or "deny", got ${describe(aclDefault)}`);
  }
  if (rules !== undefined && !Array.isArray(rules)) {
    throw new Error(`acl rules must be a list, got ${describe(rules)}`);
  }
  const parsed = (rules ?? []).map((r: unknown, i: number) => parseRule(r, i));
  return aclDefault === undefined ? { rules: parsed } : { rules: parsed, aclDefault };
}

function parseRule(value: unknown, index: number): AclRule {
  const at = `acl rule ${index}`;
  if (!isRecord(value)) throw new Error(`${at} must be an object, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!RULE_FIELDS.has(key)) {
      throw new Error(`${at}: unknown field "${key}" (known: ${[...RULE_FIELDS].join(", ")})`);
    }
  }
  const { action, topic, allow } = value;
  if (typeof action !== "string" || !ACTIONS.includes(action as AclAction)) {
    throw new Error(`${at}: action must be one of ${ACTIONS.join(", ")}, got ${describe(action)}`);
  }
  if (typeof topic !== "string") {
    throw new Error(`${at}: topic must be a string, got ${describe(topic)}`);
  }
  const problem = filterProblem(topic);
  if (problem !== null) throw new Error(`${at}: invalid topic filter "${topic}": ${problem}`);
  if (typeof allow !== "boolean") {
    throw new Error(`${at}: allow must be true or false, got ${describe(allow)}`);
  }
  const rule: AclRule = { action: action as AclAction, topic, allow };
  for (const field of ["tenant", "user", "clientId"] as const) {
    const v = value[field];
    if (v === undefined) continue;
    if (typeof v !== "string" || v === "") {
      throw new Error(`${at}: ${field} must be a non-empty string, got ${describe(v)}`);
    }
    rule[field] = v;
  }
  return rule;
}

/** A rule as it applies to one client: pattern levels, or null when the client's id/name poison it (deny). */
interface PreparedRule {
  levels: string[] | null;
  allow: boolean;
}

/** The rules that apply to one client (tenant, user and client id fixed), in order. */
interface PreparedContext {
  tenant: string;
  user: string | null;
  clientId: string;
  publish: PreparedRule[];
  subscribe: PreparedRule[];
}

/**
 * Compiles (and validates) an ACL.
 *
 * Per client, the applicable rules (conditions checked, `%u`/`%c` substituted)
 * are prepared once and cached in a WeakMap keyed by the AclContext object,
 * so a session that keeps one context object pays only the pattern matches
 * per check (checkDeliver runs per delivered message).
 */
export function createAcl(config: AclConfig): Acl {
  const checked = parseAclConfig(config);
  const defaultAllow = checked.aclDefault !== "deny";
  const compiled: CompiledRule[] = checked.rules.map((rule) => {
    const placeholder = rule.topic.includes("%u") || rule.topic.includes("%c");
    return {
      rule,
      publish: rule.action !== "subscribe",
      subscribe: rule.action !== "publish",
      levels: placeholder ? null : levelsOf(rule.topic),
      usesUser: rule.topic.includes("%u"),
      usesClientId: rule.topic.includes("%c"),
    };
  });
  const anyPublish = compiled.some((c) => c.publish);
  const anySubscribe = compiled.some((c) => c.subscribe);
  const prepared = new WeakMap<AclContext, PreparedContext>();

  const prepare = (ctx: AclContext): PreparedContext => {
    const out: PreparedContext = {
      tenant: ctx.tenant,
      user: ctx.user,
      clientId: ctx.clientId,
      publish: [],
      subscribe: [],
    };
    for (const c of compiled) {
      const r = c.rule;
      if (r.tenant !== undefined && r.tenant !== ctx.tenant) continue;
      if (r.user !== undefined && r.user !== ctx.user) continue;
      if (r.clientId !== undefined && r.clientId !== ctx.clientId) continue;
      let levels = c.levels;
      if (levels === null) {
        if (c.usesUser && ctx.user === null) continue;
        const user = ctx.user ?? "";
        const poisoned = (c.usesClientId && /[+#]/.test(ctx.clientId)) ||
          (c.usesUser && /[+#]/.test(user));
        levels = poisoned
          ? null
          : levelsOf(r.topic.replaceAll("%u", user).replaceAll("%c", ctx.clientId));
      }
      const p: PreparedRule = { levels, allow: r.allow };
      if (c.publish) out.publish.push(p);
      if (c.subscribe) out.subscribe.push(p);
    }
    return out;
  };

  const forContext = (ctx: AclContext): PreparedContext => {
    const cached = prepared.get(ctx);
    if (
      cached !== undefined && cached.tenant === ctx.tenant && cached.user === ctx.user &&
      cached.clientId === ctx.clientId
    ) return cached;
    const fresh = prepare(ctx);
    prepared.set(ctx, fresh);
    return fresh;
  };

  const matchTopic = (rules: PreparedRule[], topic: string): boolean => {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (r.levels === null) return false;
      if (filterMatchesTopicString(r.levels, topic)) return r.allow;
    }
    return defaultAllow;
  };

  return {
    checkPublish: (ctx, topic) =>
      anyPublish ? matchTopic(forContext(ctx).publish, topic) : defaultAllow,
    checkSubscribe: (ctx, filter) => {
      if (!anySubscribe) return defaultAllow;
      const f = levelsOf(stripShare(filter));
      // Some earlier allow rule overlaps the filter: those topics may flow, the
      // others are filtered per message by checkDeliver.
      let partlyAllowed = false;
      for (const r of forContext(ctx).subscribe) {
        if (r.levels === null) return partlyAllowed; // poisoned: a deny covering everything
        if (filterCovers(r.levels, f)) return r.allow || partlyAllowed;
        if (r.allow && !partlyAllowed && filtersIntersect(r.levels, f)) partlyAllowed = true;
      }
      return partlyAllowed || defaultAllow;
    },
    checkDeliver: (ctx, topic) =>
      anySubscribe ? matchTopic(forContext(ctx).subscribe, topic) : defaultAllow,
  };
}

/** `$share/group/a/b` → `a/b`; other filters unchanged. */
function stripShare(filter: string): string {
  if (!filter.startsWith("$share/")) return filter;
  const slash = filter.indexOf("/", 7);
  return slash < 0 ? filter : filter.slice(slash + 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value) ?? String(value);
}
