import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  parseSharedFilter,
  topicFilterError,
  utf8ByteLength,
  validTopicFilter,
  validTopicName,
} from "./topicValidation.ts";

Deno.test("validTopicName: wildcards, NUL, empty, limits", () => {
  for (const t of ["a", "/", "a//b", "$SYS/x", "ü/€", " "]) strictEqual(validTopicName(t), true, t);
  for (const t of ["", "a/+", "#", "a/b#", "a\u0000b", "a\ud800"]) {
    strictEqual(validTopicName(t), false, JSON.stringify(t));
  }
  strictEqual(validTopicName("ab", { maxTopicBytes: 1, maxTopicLevels: 5 }), false);
  strictEqual(validTopicName("é", { maxTopicBytes: 1, maxTopicLevels: 5 }), false);
  strictEqual(validTopicName("a/b/c", { maxTopicBytes: 100, maxTopicLevels: 2 }), false);
  strictEqual(validTopicName("a/b", { maxTopicBytes: 100, maxTopicLevels: 2 }), true);
});

Deno.test("validTopicFilter: placement of + and #", () => {
  for (const f of ["#", "+", "a/#", "+/+", "/+", "a/+/b/#", "+/#", "$SYS/#", "a//b"]) {
    strictEqual(validTopicFilter(f), true, f);
  }
  for (const f of ["", "a#", "#/a", "a/#/b", "a+", "+a/b", "a/b+", "##", "a/\u0000"]) {
    strictEqual(validTopicFilter(f), false, f);
  }
  strictEqual(topicFilterError("a/#/b")?.includes("a/#/b"), true);
});

Deno.test("utf8ByteLength agrees with TextEncoder", () => {
  for (const s of ["", "abc", "é", "€", "😀", "a😀b€", "\ud800x"]) {
    strictEqual(utf8ByteLength(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});

Deno.test("parseSharedFilter: groups and inner filters", () => {
  deepStrictEqual(parseSharedFilter("$share/g/a/+"), { ok: true, group: "g", filter: "a/+" });
  deepStrictEqual(parseSharedFilter("$share/g/#"), { ok: true, group: "g", filter: "#" });
  deepStrictEqual(parseSharedFilter("a/b"), { ok: true, group: null, filter: "a/b" });
  deepStrictEqual(parseSharedFilter("$share/g//"), { ok: true, group: "g", filter: "/" });
  for (
    const bad of ["$share/g", "$share//a", "$share/g+/a", "$share/#/a", "$share/g/", "$share/g/a#"]
  ) {
    const r = parseSharedFilter(bad);
    strictEqual(r.ok, false, bad);
    if (!r.ok) strictEqual(r.error.length > 0, true);
  }
});
