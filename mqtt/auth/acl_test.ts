import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import fc from "fast-check";
import { type AclContext, type AclRule, createAcl, parseAclConfig } from "./acl.ts";
import { filterProblem } from "./topicPattern.ts";

const alice: AclContext = { tenant: "default", user: "alice", clientId: "dev1" };
const anon: AclContext = { tenant: "default", user: null, clientId: "dev2" };

Deno.test("first match wins; default allow unless aclDefault deny", () => {
  const rules: AclRule[] = [
    { action: "publish", topic: "secret/#", allow: false },
    { action: "all", topic: "#", allow: true, user: "alice" },
  ];
  const open = createAcl({ rules });
  assertEquals(open.checkPublish(alice, "secret/x"), false);
  assertEquals(open.checkPublish(alice, "a/b"), true);
  assertEquals(open.checkPublish(anon, "a/b"), true, "no rule applies: default allow");
  const closed = createAcl({ rules, aclDefault: "deny" });
  assertEquals(closed.checkPublish(anon, "a/b"), false);
  assertEquals(closed.checkSubscribe(alice, "a/+"), true);
  assertEquals(closed.checkSubscribe(anon, "a/+"), false);
});

Deno.test("%u and %c substitution; anonymous and wildcard ids never widen a rule", () => {
  const acl = createAcl({
    rules: [
      { action: "all", topic: "users/%u/#", allow: true },
      { action: "publish", topic: "devices/%c/state", allow: true },
    ],
    aclDefault: "deny",
  });
  assertEquals(acl.checkPublish(alice, "users/alice/x"), true);
  assertEquals(acl.checkPublish(alice, "users/bob/x"), false);
  assertEquals(acl.checkSubscribe(alice, "users/alice/#"), true);
  assertEquals(acl.checkSubscribe(alice, "users/+/#"), true, "partly allowed: users/alice/#");
  assertEquals(acl.checkDeliver(alice, "users/bob/x"), false, "...the rest filtered at delivery");
  assertEquals(acl.checkSubscribe(alice, "users/bob/#"), false);
  assertEquals(acl.checkPublish(alice, "devices/dev1/state"), true);
  assertEquals(acl.checkPublish(anon, "users//x"), false, "%u rules skip anonymous clients");
  assertEquals(acl.checkPublish(anon, "devices/dev2/state"), true);
  const sneaky = { tenant: "default", user: "#", clientId: "+" };
  assertEquals(acl.checkPublish(sneaky, "users/#/x"), false);
  assertEquals(acl.checkPublish(sneaky, "devices/x/state"), false);
  assertEquals(acl.checkSubscribe(sneaky, "users/x/#"), false);
});

Deno.test("a poisoned %c rule is a deny covering everything, after earlier allows", () => {
  const acl = createAcl({
    rules: [
      { action: "all", topic: "public/#", allow: true },
      { action: "all", topic: "clients/%c/#", allow: true },
      { action: "all", topic: "#", allow: true },
    ],
  });
  const sneaky = { tenant: "default", user: null, clientId: "#" };
  assertEquals(acl.checkSubscribe(sneaky, "public/x"), true);
  assertEquals(acl.checkSubscribe(sneaky, "#"), true, "partly allowed by public/#");
  assertEquals(acl.checkDeliver(sneaky, "public/x"), true);
  assertEquals(acl.checkDeliver(sneaky, "clients/a/x"), false);
  assertEquals(acl.checkDeliver(sneaky, "other"), false, "the later allow-all is never reached");
  assertEquals(acl.checkSubscribe(sneaky, "clients/#"), false);
  assertEquals(acl.checkSubscribe(sneaky, "other"), false);
});

Deno.test("subscribe: the first rule covering the filter decides; overlapping rules do not", () => {
  const acl = createAcl({
    rules: [
      { action: "subscribe", topic: "sensors/secret", allow: false },
      { action: "subscribe", topic: "sensors/#", allow: true },
    ],
    aclDefault: "deny",
  });
  assertEquals(acl.checkSubscribe(alice, "sensors/+/temp"), true);
  assertEquals(acl.checkSubscribe(alice, "sensors/public"), true);
  assertEquals(acl.checkSubscribe(alice, "sensors/secret"), false, "covered by the deny rule");
  assertEquals(acl.checkSubscribe(alice, "sensors/+"), true, "the deny only overlaps it");
  assertEquals(acl.checkSubscribe(alice, "#"), true, "partly allowed by sensors/#");
  assertEquals(acl.checkSubscribe(alice, "other/#"), false, "aclDefault deny");
  assertEquals(acl.checkSubscribe(alice, "$share/g/sensors/x"), true);
  assertEquals(acl.checkSubscribe(alice, "$share/g/sensors/secret"), false);
  assertEquals(acl.checkDeliver(alice, "sensors/secret"), false);
  assertEquals(acl.checkDeliver(alice, "sensors/x"), true);
  assertEquals(acl.checkDeliver(alice, "other/x"), false);
  assertEquals(acl.checkPublish(alice, "sensors/x"), false, "subscribe rules do not grant publish");
});

Deno.test("subscribe: a deny rule refuses only the filters it covers (Paho, mosquitto)", () => {
  const acl = createAcl({
    rules: [{ action: "subscribe", topic: "test/nosubscribe", allow: false }],
  });
  assertEquals(acl.checkSubscribe(alice, "test/nosubscribe"), false);
  for (const f of ["#", "+/+", "test/#", "test/+", "TopicA/#"]) {
    assertEquals(acl.checkSubscribe(alice, f), true, f);
  }
  assertEquals(acl.checkDeliver(alice, "test/nosubscribe"), false);
  assertEquals(acl.checkDeliver(alice, "test/other"), true);
});

Deno.test("subscribe: a covering deny after an overlapping allow grants the allowed part", () => {
  const acl = createAcl({
    rules: [
      { action: "subscribe", topic: "secret/public/#", allow: true },
      { action: "subscribe", topic: "secret/#", allow: false },
    ],
  });
  assertEquals(acl.checkSubscribe(alice, "secret/+/x"), true, "secret/public/x may flow");
  assertEquals(acl.checkSubscribe(alice, "secret/other/#"), false, "no overlap with the allow");
  assertEquals(acl.checkSubscribe(alice, "secret/#"), true);
  assertEquals(acl.checkDeliver(alice, "secret/public/x"), true);
  assertEquals(acl.checkDeliver(alice, "secret/other/x"), false);
});

Deno.test("tenant and clientId conditions", () => {
  const acl = createAcl({
    rules: [
      { tenant: "acme", action: "all", topic: "#", allow: true },
      { clientId: "dev1", action: "publish", topic: "x", allow: true },
    ],
    aclDefault: "deny",
  });
  assertEquals(acl.checkPublish({ ...anon, tenant: "acme" }, "y"), true);
  assertEquals(acl.checkPublish(anon, "y"), false);
  assertEquals(acl.checkPublish(alice, "x"), true);
});

Deno.test("rules are validated at load with the index, field and value", () => {
  throws(() => parseAclConfig({ rules: [{ action: "read", topic: "#", allow: true }] }), {
    message: 'acl rule 0: action must be one of publish, subscribe, all, got "read"',
  });
  throws(
    () =>
      parseAclConfig({
        rules: [{ action: "all", topic: "#", allow: true }, {
          action: "all",
          topic: "a/#/b",
          allow: true,
        }],
      }),
    /acl rule 1: invalid topic filter "a\/#\/b": "#" must be the whole last level/,
  );
  throws(
    () => parseAclConfig({ rules: [{ action: "all", topic: "a", allow: "yes" }] }),
    /allow must be true or false, got "yes"/,
  );
  throws(
    () => parseAclConfig({ rules: [{ action: "all", topic: "a", allow: true, usr: "x" }] }),
    /unknown field "usr"/,
  );
  throws(
    () => parseAclConfig({ rules: [], aclDefault: "maybe" }),
    /aclDefault must be "allow" or "deny", got "maybe"/,
  );
  throws(() => parseAclConfig({ rules: "all" }), /rules must be a list/);
  throws(
    () => createAcl({ rules: [{ action: "all", topic: "", allow: true }] }),
    /must not be empty/,
  );
  assertEquals(parseAclConfig({}), { rules: [] });
});

Deno.test("prepared rules follow a context object whose fields change", () => {
  const acl = createAcl({
    rules: [{ action: "all", topic: "devices/%c/#", allow: true }],
    aclDefault: "deny",
  });
  const ctx = { tenant: "default", user: null, clientId: "a" };
  assertEquals(acl.checkDeliver(ctx, "devices/a/x"), true);
  ctx.clientId = "b";
  assertEquals(acl.checkDeliver(ctx, "devices/a/x"), false);
  assertEquals(acl.checkDeliver(ctx, "devices/b/x"), true);
  assertEquals(createAcl({ rules: [], aclDefault: "deny" }).checkDeliver(ctx, "x"), false);
});

// --- Property tests against a naive oracle -------------------------------

/** Naive matcher straight from the spec's wording, on strings. */
function naiveMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  const go = (i: number, j: number): boolean => {
    if (i === f.length) return j === t.length;
    if (f[i] === "#") return true;
    if (j === t.length) return false;
    return (f[i] === "+" || f[i] === t[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

const LITERALS = ["a", "b", "$s", ""];
/** All valid topics of 1..5 levels over LITERALS and "z" (in no filter: witnesses "+"). */
const TOPICS: string[] = (() => {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let n = 1; n <= 5; n++) {
    layer = layer.flatMap((prefix) => [...LITERALS, "z"].map((l) => [...prefix, l]));
    for (const levels of layer) if (levels.join("/").length > 0) out.push(levels.join("/"));
  }
  return out;
})();

const matchedTopics = new Map<string, Set<string>>();
/** The topics of TOPICS that `filter` matches (brute force, memoized). */
function topicsOf(filter: string): Set<string> {
  let set = matchedTopics.get(filter);
  if (set === undefined) {
    set = new Set(TOPICS.filter((t) => naiveMatches(filter, t)));
    matchedTopics.set(filter, set);
  }
  return set;
}

/** First matching subscribe/all rule decides a delivery; else the default. */
function naiveDeliver(rules: readonly AclRule[], defaultAllow: boolean, topic: string): boolean {
  for (const r of rules) {
    if (r.action !== "publish" && naiveMatches(r.topic, topic)) return r.allow;
  }
  return defaultAllow;
}

/** The subscribe rule walk, with covers / overlaps decided by brute force over TOPICS. */
function naiveSubscribe(rules: readonly AclRule[], defaultAllow: boolean, filter: string): boolean {
  const mine = [...topicsOf(filter)];
  let partlyAllowed = false;
  for (const r of rules) {
    if (r.action === "publish") continue;
    const theirs = topicsOf(r.topic);
    if (mine.every((t) => theirs.has(t))) return r.allow || partlyAllowed;
    if (r.allow && mine.some((t) => theirs.has(t))) partlyAllowed = true;
  }
  return partlyAllowed || defaultAllow;
}

const filterArb = fc
  .tuple(
    fc.array(fc.constantFrom(...LITERALS, "+"), { minLength: 0, maxLength: 3 }),
    fc.boolean(),
  )
  .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
  .filter((f) => f.length > 0 && filterProblem(f) === null);
const rulesArb = fc.array(
  fc.record({
    action: fc.constantFrom("publish" as const, "subscribe" as const, "all" as const),
    topic: filterArb,
    allow: fc.boolean(),
  }),
  { maxLength: 5 },
);

Deno.test("checkSubscribe agrees with the naive rule walk (brute-force covers / overlaps)", () => {
  fc.assert(
    fc.property(rulesArb, fc.boolean(), filterArb, fc.boolean(), (rules, dflt, filter, share) => {
      const acl = createAcl({ rules, aclDefault: dflt ? "allow" : "deny" });
      assertEquals(
        acl.checkSubscribe(alice, share ? `$share/g/${filter}` : filter),
        naiveSubscribe(rules, dflt, filter),
        `rules ${JSON.stringify(rules)}, default ${dflt ? "allow" : "deny"}, filter ${filter}`,
      );
    }),
    { numRuns: 2000 },
  );
});

Deno.test("checkDeliver agrees with first-match on the topic", () => {
  fc.assert(
    fc.property(rulesArb, fc.boolean(), fc.constantFrom(...TOPICS), (rules, dflt, topic) => {
      const acl = createAcl({ rules, aclDefault: dflt ? "allow" : "deny" });
      assertEquals(acl.checkDeliver(alice, topic), naiveDeliver(rules, dflt, topic));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("a subscription is refused only when no topic it matches could be delivered", () => {
  fc.assert(
    fc.property(rulesArb, fc.boolean(), filterArb, (rules, dflt, filter) => {
      const acl = createAcl({ rules, aclDefault: dflt ? "allow" : "deny" });
      const deliverable = [...topicsOf(filter)].some((t) => naiveDeliver(rules, dflt, t));
      if (deliverable) {
        assert(
          acl.checkSubscribe(alice, filter),
          `refused ${filter} though a topic of it is deliverable; rules ${JSON.stringify(rules)}`,
        );
      }
    }),
    { numRuns: 2000 },
  );
});
