import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import {
  filterCovers,
  filterMatchesTopic,
  filterProblem,
  filtersIntersect,
  levelsOf,
  topicProblem,
} from "./topicPattern.ts";

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
const TOPIC_LEVELS = [...LITERALS, "z"]; // "z" appears in no filter: witnesses "+"

/** All valid topics of 1..maxLevels levels over TOPIC_LEVELS. */
function universe(maxLevels: number): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let n = 1; n <= maxLevels; n++) {
    layer = layer.flatMap((prefix) => TOPIC_LEVELS.map((l) => [...prefix, l]));
    for (const levels of layer) {
      const topic = levels.join("/");
      if (topic.length > 0) out.push(topic);
    }
  }
  return out;
}
const TOPICS = universe(5);

const filterArb = fc
  .tuple(
    fc.array(fc.constantFrom(...LITERALS, "+"), { minLength: 0, maxLength: 3 }),
    fc.boolean(),
  )
  .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
  .filter((f) => f.length > 0 && filterProblem(f) === null);

Deno.test("filterMatchesTopic and filterMatchesTopicString agree with the naive matcher", () => {
  fc.assert(
    fc.property(filterArb, fc.constantFrom(...TOPICS), (filter, topic) => {
      assertEquals(
        filterMatchesTopic(levelsOf(filter), levelsOf(topic)),
        naiveMatches(filter, topic),
      );
    }),
    { numRuns: 1000 },
  );
});

Deno.test("filterCovers agrees with brute force over all small topics", () => {
  fc.assert(
    fc.property(filterArb, filterArb, (outer, inner) => {
      const expected = TOPICS.every((t) => !naiveMatches(inner, t) || naiveMatches(outer, t));
      assertEquals(
        filterCovers(levelsOf(outer), levelsOf(inner)),
        expected,
        `covers(${JSON.stringify(outer)}, ${JSON.stringify(inner)})`,
      );
    }),
    { numRuns: 1000 },
  );
});

Deno.test("filtersIntersect agrees with brute force over all small topics", () => {
  fc.assert(
    fc.property(filterArb, filterArb, (a, b) => {
      const expected = TOPICS.some((t) => naiveMatches(a, t) && naiveMatches(b, t));
      assertEquals(
        filtersIntersect(levelsOf(a), levelsOf(b)),
        expected,
        `intersect(${JSON.stringify(a)}, ${JSON.stringify(b)})`,
      );
    }),
    { numRuns: 1000 },
  );
});

Deno.test("covers: hand-picked cases", () => {
  const c = (o: string, i: string) => filterCovers(levelsOf(o), levelsOf(i));
  assert(c("#", "a/+/#"));
  assert(c("+/#", "#"));
  assert(c("+/+/#", "/#"));
  assert(!c("+/+/#", "a/#"));
  assert(c("a/#", "a"));
  assert(!c("a/+", "a/#"));
  assert(!c("#", "$SYS/x"));
  assert(c("$SYS/#", "$SYS/x"));
  assert(!c("a/b", "a/+"));
  assert(c("a/+", "a/b"));
});

Deno.test("filter and topic validation messages", () => {
  assertEquals(
    filterProblem("a/#/b"),
    '"#" must be the whole last level, got level "#" at position 1',
  );
  assertEquals(filterProblem("a/b+"), '"+" must be a whole level, got level "b+" at position 1');
  assertEquals(filterProblem(""), "a topic filter must not be empty");
  assertEquals(filterProblem("a/+/#"), null);
  assertEquals(topicProblem("a/+"), 'a topic must not contain "+", "#" or U+0000, got "a/+"');
});
