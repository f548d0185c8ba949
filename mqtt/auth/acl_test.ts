import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { type AclContext, type AclRule, createAcl, parseAclConfig } from "./acl.ts";

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
  assertEquals(acl.checkSubscribe(alice, "users/+/#"), false);
  assertEquals(acl.checkPublish(alice, "devices/dev1/state"), true);
  assertEquals(acl.checkPublish(anon, "users//x"), false, "%u rules skip anonymous clients");
  assertEquals(acl.checkPublish(anon, "devices/dev2/state"), true);
  const sneaky = { tenant: "default", user: "#", clientId: "+" };
  assertEquals(acl.checkPublish(sneaky, "users/#/x"), false);
  assertEquals(acl.checkPublish(sneaky, "devices/x/state"), false);
});

Deno.test("subscribe: allow must cover the filter, deny applies on any overlap", () => {
  const acl = createAcl({
    rules: [
      { action: "subscribe", topic: "sensors/secret", allow: false },
      { action: "subscribe", topic: "sensors/#", allow: true },
    ],
    aclDefault: "deny",
  });
  assertEquals(acl.checkSubscribe(alice, "sensors/+/temp"), true);
  assertEquals(acl.checkSubscribe(alice, "sensors/public"), true);
  assertEquals(acl.checkSubscribe(alice, "sensors/secret"), false);
  assertEquals(acl.checkSubscribe(alice, "sensors/+"), false, "overlaps the deny rule");
  assertEquals(acl.checkSubscribe(alice, "#"), false, "not covered by sensors/#");
  assertEquals(acl.checkSubscribe(alice, "$share/g/sensors/x"), true);
  assertEquals(acl.checkDeliver(alice, "sensors/secret"), false);
  assertEquals(acl.checkDeliver(alice, "sensors/x"), true);
  assertEquals(acl.checkPublish(alice, "sensors/x"), false, "subscribe rules do not grant publish");
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
