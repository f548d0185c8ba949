import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { newMessage } from "../core/types.ts";
import { SimNetwork } from "./network.ts";
import { Rng } from "./rng.ts";
import { SimDisk } from "./disk.ts";
import { entryRange } from "../storage/logStore.case.ts";
import { KvStateMachine } from "./kv.ts";

const msg = (from: string, to: string, term = 1) =>
  newMessage({ type: "MsgHeartbeat", from, to, term });

Deno.test("network: delivers after the delay, cuts one direction only, heals", () => {
  const net = new SimNetwork(new Rng(1), {
    dropRate: 0,
    duplicateRate: 0,
    minDelayTicks: 2,
    maxDelayTicks: 2,
  });
  net.cut("a", "b");
  strictEqual(net.send(0, msg("a", "b")), "cut");
  strictEqual(net.send(0, msg("b", "a")), "queued");
  deepStrictEqual(net.due(1), []);
  deepStrictEqual(net.due(2).map((m) => `${m.from}>${m.to}`), ["b>a"]);
  net.healAll();
  strictEqual(net.send(3, msg("a", "b")), "queued");
  strictEqual(net.due(5).length, 1);
});

Deno.test("network: a link cut while a message is in flight loses it; copies are independent", () => {
  const net = new SimNetwork(new Rng(1), {
    dropRate: 0,
    duplicateRate: 0,
    minDelayTicks: 1,
    maxDelayTicks: 1,
  });
  const m = msg("a", "b");
  net.send(0, m);
  net.partition(["a"], ["b"]);
  deepStrictEqual(net.due(1), []);
  net.healAll();
  net.send(1, m);
  const [got] = net.due(2);
  deepStrictEqual(got, m);
  strictEqual(got === m, false);
});

Deno.test("network: drop and duplicate rates, and reordering by delay", () => {
  const net = new SimNetwork(new Rng(7), {
    dropRate: 0.2,
    duplicateRate: 0.2,
    minDelayTicks: 1,
    maxDelayTicks: 5,
  });
  for (let i = 0; i < 1000; i++) net.send(0, msg("a", "b", i + 1));
  const got = net.due(10).map((m) => m.term);
  strictEqual(net.dropped > 120 && net.dropped < 280, true, `dropped ${net.dropped}`);
  strictEqual(net.duplicated > 100 && net.duplicated < 260, true, `duplicated ${net.duplicated}`);
  strictEqual(got.length, 1000 - net.dropped + net.duplicated);
  const sorted = got.slice().sort((x, y) => x - y);
  strictEqual(JSON.stringify(got) === JSON.stringify(sorted), false, "some messages are reordered");
});

Deno.test("disk: a crash loses unsynced writes and keeps synced ones", () => {
  const disk = new SimDisk();
  disk.write([{
    groupId: "g",
    entries: entryRange(1, 3, 1),
    hardState: { term: 1, vote: "a", commit: 0 },
  }]);
  disk.sync();
  disk.write([{
    groupId: "g",
    entries: entryRange(4, 6, 1),
    hardState: { term: 2, vote: "b", commit: 3 },
  }]);
  const view = disk.group("g");
  strictEqual(view.lastIndex(), 6);
  strictEqual(disk.durable.group("g").lastIndex(), 3);
  disk.crash();
  strictEqual(view.lastIndex(), 3);
  deepStrictEqual(view.initialState().hardState, { term: 1, vote: "a", commit: 0 });
  strictEqual(disk.syncs, 1);
});

Deno.test("kv: duplicates of a client's command have no effect; snapshots round-trip", () => {
  const kv = new KvStateMachine();
  strictEqual(kv.apply({ client: 1, seq: 1, op: "append", key: "x", value: "a" }).applied, true);
  strictEqual(kv.apply({ client: 1, seq: 1, op: "append", key: "x", value: "a" }).applied, false);
  kv.apply({ client: 2, seq: 1, op: "append", key: "x", value: "b" });
  strictEqual(kv.get("x"), "ab");
  const copy = new KvStateMachine();
  copy.restore(kv.snapshot());
  strictEqual(copy.get("x"), "ab");
  strictEqual(copy.apply({ client: 2, seq: 1, op: "put", key: "x", value: "z" }).applied, false);
  deepStrictEqual(copy.apply({ client: 2, seq: 2, op: "get", key: "x", value: "" }), {
    applied: true,
    value: "ab",
  });
});
