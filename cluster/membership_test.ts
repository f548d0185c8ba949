import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { defaultMembershipConfig } from "./config.ts";
import { MembershipCore } from "./membership.ts";
import type { NodeMetadata } from "./messages.ts";
import { createSeededRandom } from "./rng.ts";

const meta: NodeMetadata = { mqttEndpoints: [], stores: [], load: {} };
const core = (id: string) =>
  new MembershipCore({
    selfId: id,
    metadata: meta,
    config: defaultMembershipConfig(),
    random: createSeededRandom(1),
    nowMs: 0,
  });

Deno.test("buddy system: a suspect refutes in the ack to the ping that carries the suspicion", () => {
  const b = core("b:1");
  const out = b.onMessage("a:1", [
    { t: "ping", seq: 9, node: "b:1" },
    { t: "suspect", node: "b:1", inc: 1, from: "a:1" },
  ], 10);
  const toA = out.packets.find((p) => p.to === "a:1" && p.messages[0].t === "ack");
  ok(toA !== undefined);
  deepStrictEqual(toA.messages[0], { t: "ack", seq: 9 });
  ok(
    toA.messages.some((m) => m.t === "alive" && m.node === "b:1" && m.inc === 2),
    "refutation piggybacked",
  );
  deepStrictEqual(out.events.map((e) => e.kind), ["refuted"]);
  strictEqual(b.healthScore, 1, "a refutation lowers local health");
});

Deno.test("incarnations: stale news is ignored, newer alive clears a suspicion", () => {
  const a = core("a:1");
  a.onMessage("c:1", [{ t: "alive", node: "b:1", inc: 3, meta }], 0);
  a.onMessage("c:1", [{ t: "suspect", node: "b:1", inc: 2, from: "c:1" }], 1);
  strictEqual(a.member("b:1")?.state, "alive", "older suspicion ignored");
  a.onMessage("c:1", [{ t: "suspect", node: "b:1", inc: 3, from: "c:1" }], 2);
  strictEqual(a.member("b:1")?.state, "suspect");
  a.onMessage("c:1", [{ t: "alive", node: "b:1", inc: 3, meta }], 3);
  strictEqual(a.member("b:1")?.state, "suspect", "same incarnation does not refute");
  const out = a.onMessage("c:1", [{ t: "alive", node: "b:1", inc: 4, meta }], 4);
  strictEqual(a.member("b:1")?.state, "alive");
  deepStrictEqual(out.events.map((e) => [e.kind, e.previous]), [["alive", "suspect"]]);
  // Dead from someone else; left from the node itself.
  a.onMessage("c:1", [{ t: "dead", node: "b:1", inc: 4, from: "c:1" }], 5);
  strictEqual(a.member("b:1")?.state, "dead");
  a.onMessage("d:1", [{ t: "alive", node: "d:1", inc: 1, meta }, {
    t: "dead",
    node: "d:1",
    inc: 1,
    from: "d:1",
  }], 6);
  strictEqual(a.member("d:1")?.state, "left");
});

Deno.test("a lone suspicion without confirmations expires after the maximum timeout", () => {
  const a = core("a:1");
  for (const n of ["b:1", "c:1", "d:1", "e:1"]) {
    a.onMessage(n, [{ t: "alive", node: n, inc: 1, meta }], 0);
  }
  a.onMessage("c:1", [{ t: "suspect", node: "b:1", inc: 1, from: "c:1" }], 1000);
  // n = 5 → min 4 s, max 24 s, k = 2.
  a.onTick(1000 + 23_000);
  strictEqual(a.member("b:1")?.state, "suspect");
  a.onMessage("d:1", [{ t: "suspect", node: "b:1", inc: 1, from: "d:1" }], 24_000);
  a.onMessage("e:1", [{ t: "suspect", node: "b:1", inc: 1, from: "e:1" }], 24_000);
  const out = a.onTick(24_001);
  strictEqual(a.member("b:1")?.state, "dead");
  ok(out.events.some((e) => e.kind === "dead" && e.member.id === "b:1"));
});

Deno.test("metadata above its bound is refused; an update bumps the incarnation", () => {
  const a = core("a:1");
  throws(() => a.updateMetadata({ ...meta, stores: ["x".repeat(600)] }, 1), RangeError);
  a.updateMetadata({ ...meta, load: { connections: 5 } }, 1);
  strictEqual(a.member("a:1")?.incarnation, 2);
});

Deno.test("metadata is normalized: missing fields default, unknown ones are dropped", () => {
  const odd = { mqtt: ["x"], stores: ["dist"] } as unknown as NodeMetadata;
  const a = new MembershipCore({
    selfId: "a:1",
    metadata: odd,
    config: defaultMembershipConfig(),
    random: createSeededRandom(1),
    nowMs: 0,
  });
  deepStrictEqual(a.member("a:1")?.metadata, { mqttEndpoints: [], stores: ["dist"], load: {} });
  throws(() => a.updateMetadata({ stores: "dist" } as unknown as NodeMetadata, 1), RangeError);
});
