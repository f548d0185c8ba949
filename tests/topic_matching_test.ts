/**
 * End to end: topic matching against a naive oracle. One v5 client subscribes to
 * many seeded random filters (each with its own subscription identifier); seeded
 * random topics are published; each delivered message must carry exactly the ids
 * of the filters the oracle says match, and unmatched topics must not arrive.
 */

import { assertEquals } from "./harness/assert.ts";
import { IS_MOSQUITTO, startBroker } from "./harness/broker.ts";
import { closeClient, connectClient, Inbox, uniqueId } from "./harness/clients.ts";
import { mulberry32 } from "./harness/rng.ts";

/** Naive MQTT matching, straight from the spec text. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (t[0].startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true; // also matches the parent level ("a/#" matches "a")
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

Deno.test("wildcard matching agrees with a naive oracle, with every matching subscription id", async () => {
  const seed = Number(Deno.env.get("EDGEMQ_MATCH_SEED") ?? "7");
  const rand = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const root = `m${uniqueId().replace(/[^a-z0-9]/g, "")}`;
  // small alphabet so that filters and topics collide often; "" gives empty levels
  const words = ["a", "b", "c", ""];
  const randomTopic = () => {
    const n = 1 + Math.floor(rand() * 4);
    return [root, ...Array.from({ length: n }, () => pick(words))].join("/");
  };
  const randomFilter = () => {
    const n = 1 + Math.floor(rand() * 4);
    const levels = Array.from({ length: n }, () => pick([...words, "+", "+"]));
    if (rand() < 0.35) levels.push("#");
    return [root, ...levels].join("/");
  };
  const filters = [...new Set(Array.from({ length: 60 }, randomFilter)), `${root}/#`];
  const topics = Array.from({ length: 150 }, randomTopic);

  const b = await startBroker({ ws: false });
  try {
    const sub = await connectClient(b, { protocolVersion: 5 });
    const inbox = new Inbox(sub);
    for (let i = 0; i < filters.length; i++) {
      await sub.subscribeAsync(filters[i], {
        qos: 1,
        properties: { subscriptionIdentifier: i + 1 },
      });
    }
    const pub = await connectClient(b, { protocolVersion: 5 });
    for (let k = 0; k < topics.length; k++) {
      await pub.publishAsync(topics[k], String(k), { qos: 1 });
    }
    const expectedCount = topics.length; // root/# matches every topic
    // mosquitto sends one copy per matching subscription; edgemq one per message
    const deadline = Date.now() + 10_000;
    const seen = () => new Set(inbox.messages.map((m) => m.payload)).size;
    while (seen() < expectedCount && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await inbox.expectNone(300);

    const got = new Map<number, Set<number>>();
    for (const m of inbox.messages) {
      const k = Number(m.payload);
      assertEquals(m.topic, topics[k], `topic of message ${k}`);
      const ids = m.packet.properties?.subscriptionIdentifier;
      const set = got.get(k) ?? new Set<number>();
      for (const id of Array.isArray(ids) ? ids : ids === undefined ? [] : [ids]) set.add(id);
      got.set(k, set);
    }
    if (!IS_MOSQUITTO) assertEquals(inbox.messages.length, topics.length, "one copy per message");
    const wrong: string[] = [];
    for (let k = 0; k < topics.length; k++) {
      const want = filters.flatMap((f, i) => (matches(f, topics[k]) ? [i + 1] : [])).sort((x, y) =>
        x - y
      );
      const have = [...(got.get(k) ?? [])].sort((x, y) => x - y);
      if (JSON.stringify(want) !== JSON.stringify(have)) {
        const names = (ids: number[]) => ids.map((i) => filters[i - 1]).join(" ");
        wrong.push(`"${topics[k]}": want [${names(want)}] got [${names(have)}]`);
      }
    }
    assertEquals(wrong.slice(0, 5), [], `seed ${seed}`);
    await closeClient(pub);
    await closeClient(sub);
  } finally {
    await b.stop();
  }
});

Deno.test("retained messages matched by wildcard filters agree with the naive oracle", async () => {
  const seed = Number(Deno.env.get("EDGEMQ_MATCH_SEED") ?? "11");
  const rand = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const root = `r${uniqueId().replace(/[^a-z0-9]/g, "")}`;
  const words = ["a", "b", "c", ""];
  const topics = [
    ...new Set(Array.from({ length: 120 }, () => {
      const n = 1 + Math.floor(rand() * 4);
      return [root, ...Array.from({ length: n }, () => pick(words))].join("/");
    })),
  ];
  const filters = [
    ...new Set(Array.from({ length: 25 }, () => {
      const n = 1 + Math.floor(rand() * 4);
      const levels = Array.from({ length: n }, () => pick([...words, "+", "+"]));
      if (rand() < 0.35) levels.push("#");
      return [root, ...levels].join("/");
    })),
  ];
  const b = await startBroker({ ws: false });
  try {
    const pub = await connectClient(b, { protocolVersion: 4 });
    for (const tp of topics) await pub.publishAsync(tp, tp, { qos: 1, retain: true });
    const wrong: string[] = [];
    for (const f of filters) {
      const s = await connectClient(b, { protocolVersion: 4 });
      const inbox = new Inbox(s);
      await s.subscribeAsync(f, { qos: 1 });
      const want = topics.filter((tp) => matches(f, tp)).sort();
      if (want.length > 0) await inbox.waitCount(want.length, 5000).catch(() => {});
      await inbox.expectNone(150);
      const have = inbox.messages.map((m) => m.topic).sort();
      if (JSON.stringify(have) !== JSON.stringify(want)) {
        wrong.push(`${f}: want ${JSON.stringify(want)} got ${JSON.stringify(have)}`);
      }
      await closeClient(s);
    }
    assertEquals(wrong.slice(0, 3), [], `seed ${seed}`);
    for (const tp of topics) await pub.publishAsync(tp, "", { qos: 1, retain: true });
    await closeClient(pub);
  } finally {
    await b.stop();
  }
});
