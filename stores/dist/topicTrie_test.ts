import { deepStrictEqual, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import { TopicTrie } from "./topicTrie.ts";
import { topicMatchesFilter } from "./topicValidation.ts";

// Small alphabets so that collisions, empty levels and `$` topics are frequent.
const topicLevel = fc.constantFrom("", "a", "b", "$x", "$SYS");
const filterLevel = fc.constantFrom("", "a", "b", "$x", "+");
const topicArb = fc.array(topicLevel, { minLength: 1, maxLength: 4 }).map((ls) => ls.join("/"));
const filterArb = fc.tuple(fc.array(filterLevel, { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([ls, hash]) => ls.length > 0 || hash)
  .map(([ls, hash]) => (hash ? [...ls, "#"] : ls).join("/"))
  .filter((f) => f !== "");

function filtersMatching(trie: TopicTrie<string>, topic: string): string[] {
  const out: string[] = [];
  trie.forEachFilterMatching(topic, (f) => out.push(f));
  return out.sort();
}

function topicsMatching(trie: TopicTrie<string>, filter: string): string[] {
  const out: string[] = [];
  trie.forEachTopicMatching(filter, (t) => out.push(t));
  return out.sort();
}

Deno.test("topicMatchesFilter: MQTT examples", () => {
  const cases: [string, string, boolean][] = [
    ["a/b/c", "a/b/c", true],
    ["a/b/c", "a/+/c", true],
    ["a/b/c", "a/#", true],
    ["a", "a/#", true],
    ["a", "a/+", false],
    ["a/", "a/+", true],
    ["/a", "+/a", true],
    ["/a", "#", true],
    ["$SYS/x", "#", false],
    ["$SYS/x", "+/x", false],
    ["$SYS/x", "$SYS/#", true],
    ["a/b", "a", false],
    ["a", "a/b", false],
    ["a//b", "a/+/b", true],
  ];
  for (const [t, f, want] of cases) strictEqual(topicMatchesFilter(t, f), want, `${t} vs ${f}`);
});

Deno.test("TopicTrie: filters matching a topic agree with the reference matcher", () => {
  fc.assert(
    fc.property(fc.uniqueArray(filterArb, { maxLength: 20 }), topicArb, (filters, topic) => {
      const trie = new TopicTrie<string>();
      for (const f of filters) trie.set(f, f);
      const want = filters.filter((f) => topicMatchesFilter(topic, f)).sort();
      deepStrictEqual(filtersMatching(trie, topic), want);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("TopicTrie: topics matching a filter agree with the reference matcher", () => {
  fc.assert(
    fc.property(fc.uniqueArray(topicArb, { maxLength: 20 }), filterArb, (topics, filter) => {
      const trie = new TopicTrie<string>();
      for (const t of topics) trie.set(t, t);
      const want = topics.filter((t) => topicMatchesFilter(t, filter)).sort();
      deepStrictEqual(topicsMatching(trie, filter), want);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("TopicTrie: delete prunes back to empty and keeps the others", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(filterArb, { maxLength: 15 }),
      fc.array(fc.nat(), { maxLength: 15 }),
      topicArb,
      (filters, picks, topic) => {
        const trie = new TopicTrie<string>();
        for (const f of filters) trie.set(f, f);
        const removed = new Set<string>();
        for (const p of picks) {
          if (filters.length === 0) break;
          const f = filters[p % filters.length];
          strictEqual(trie.delete(f), !removed.has(f));
          removed.add(f);
        }
        const left = filters.filter((f) => !removed.has(f));
        strictEqual(trie.size, left.length);
        deepStrictEqual(
          filtersMatching(trie, topic),
          left.filter((f) => topicMatchesFilter(topic, f)).sort(),
        );
        for (const f of left) trie.delete(f);
        strictEqual(trie.isEmpty(), true);
        let any = false;
        trie.forEach(() => any = true);
        strictEqual(any, false);
      },
    ),
    { numRuns: 1000 },
  );
});
