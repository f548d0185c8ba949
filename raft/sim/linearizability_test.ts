import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  checkOperations,
  formatHistory,
  type KvInput,
  kvModel,
  type KvOperation,
  type KvOutput,
} from "./linearizability.ts";

function put(
  clientId: number,
  key: string,
  value: string,
  callTime: number,
  returnTime: number,
): KvOperation {
  return {
    clientId,
    input: { op: "put", key, value },
    callTime,
    output: { value: null },
    returnTime,
  };
}
function get(
  clientId: number,
  key: string,
  value: string,
  callTime: number,
  returnTime: number,
): KvOperation {
  return { clientId, input: { op: "get", key }, callTime, output: { value }, returnTime };
}
function putUnknown(clientId: number, key: string, value: string, callTime: number): KvOperation {
  return {
    clientId,
    input: { op: "put", key, value },
    callTime,
    output: { value: null, unknown: true },
    returnTime: Infinity,
  };
}

function verdict(history: KvOperation[]): string {
  return checkOperations(kvModel, history).verdict;
}

Deno.test("linearizability: Porcupine's known-good and known-bad KV histories", () => {
  // A read concurrent with a write may see either value.
  strictEqual(
    verdict([put(0, "x", "100", 0, 100), get(1, "x", "100", 25, 75), get(2, "x", "", 30, 60)]),
    "ok",
  );
  // Once a read saw the new value, a strictly later read must not see the old one.
  strictEqual(
    verdict([put(0, "x", "200", 0, 100), get(1, "x", "200", 10, 30), get(2, "x", "", 40, 90)]),
    "illegal",
  );
  // Sequential: write then read of another value.
  strictEqual(verdict([put(0, "x", "1", 0, 1), get(1, "x", "2", 2, 3)]), "illegal");
  strictEqual(verdict([put(0, "x", "1", 0, 1), get(1, "x", "1", 2, 3)]), "ok");
  // A read returning a value nobody wrote.
  strictEqual(verdict([get(0, "x", "ghost", 0, 10)]), "illegal");
  // Touching intervals count as concurrent.
  strictEqual(verdict([put(0, "x", "1", 0, 5), get(1, "x", "", 5, 6)]), "ok");
});

Deno.test("linearizability: two writers, readers must agree on one order", () => {
  const base = [put(0, "k", "a", 0, 10), put(1, "k", "b", 0, 10)];
  strictEqual(verdict([...base, get(2, "k", "a", 20, 21), get(3, "k", "a", 22, 23)]), "ok");
  strictEqual(
    verdict([...base, get(2, "k", "a", 5, 6), get(2, "k", "b", 7, 8), get(2, "k", "b", 20, 21)]),
    "ok",
  );
  // After both writes completed, reads cannot switch from b back to a.
  strictEqual(verdict([...base, get(2, "k", "b", 11, 12), get(3, "k", "a", 13, 14)]), "illegal");
  // Nor can reads during the writes see a, then b, then a.
  strictEqual(
    verdict([...base, get(2, "k", "a", 1, 2), get(3, "k", "b", 3, 4), get(2, "k", "a", 5, 6)]),
    "illegal",
  );
});

Deno.test("linearizability: operations with an unknown outcome may or may not take effect", () => {
  strictEqual(verdict([putUnknown(0, "x", "1", 0), get(1, "x", "", 5, 6)]), "ok");
  strictEqual(verdict([putUnknown(0, "x", "1", 0), get(1, "x", "1", 5, 6)]), "ok");
  strictEqual(
    verdict([putUnknown(0, "x", "1", 0), get(1, "x", "1", 5, 6), get(1, "x", "", 7, 8)]),
    "illegal",
  );
  // It cannot take effect before it was called.
  strictEqual(verdict([get(1, "x", "1", 0, 1), putUnknown(0, "x", "1", 5)]), "illegal");
});

Deno.test("linearizability: keys are checked independently and the bad key is reported", () => {
  const h = [
    put(0, "a", "1", 0, 1),
    get(1, "a", "1", 2, 3),
    put(0, "b", "1", 0, 1),
    get(1, "b", "0", 2, 3),
  ];
  const r = checkOperations(kvModel, h);
  strictEqual(r.verdict, "illegal");
  deepStrictEqual(r.badPartition?.map((o) => o.input.key), ["b", "b"]);
  strictEqual(formatHistory(kvModel, r.badPartition ?? []).length, 2);
});

Deno.test("linearizability: appends, and a search budget gives 'unknown'", () => {
  const h: KvOperation[] = [
    {
      clientId: 0,
      input: { op: "append", key: "x", value: "a" },
      callTime: 0,
      output: { value: null },
      returnTime: 10,
    },
    {
      clientId: 1,
      input: { op: "append", key: "x", value: "b" },
      callTime: 0,
      output: { value: null },
      returnTime: 10,
    },
    get(2, "x", "ba", 11, 12),
  ];
  strictEqual(verdict(h), "ok");
  strictEqual(verdict([...h, get(3, "x", "ab", 13, 14)]), "illegal");
  const many: KvOperation[] = [];
  for (let i = 0; i < 14; i++) many.push(put(i, "x", String(i), 0, 100));
  many.push(get(99, "x", "none", 0, 100));
  strictEqual(checkOperations(kvModel, many, { maxStepsPerPartition: 1000 }).verdict, "unknown");
});

/** Naive oracle: tries every order consistent with real time. */
function bruteForce(history: KvOperation[]): boolean {
  const n = history.length;
  const used = new Array<boolean>(n).fill(false);
  const rec = (count: number, state: Map<string, string>): boolean => {
    if (count === n) return true;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      // i may go next only if no unused op returned before i was called.
      let minimal = true;
      for (let j = 0; j < n; j++) {
        if (!used[j] && j !== i && history[j].returnTime < history[i].callTime) minimal = false;
      }
      if (!minimal) continue;
      const op = history[i];
      const cur = state.get(op.input.key) ?? "";
      let next = state;
      if (op.input.op === "get") {
        if (!op.output.unknown && op.output.value !== cur) continue;
      } else {
        next = new Map(state);
        next.set(op.input.key, op.input.op === "put" ? op.input.value : cur + op.input.value);
      }
      used[i] = true;
      if (rec(count + 1, next)) return true;
      used[i] = false;
    }
    return false;
  };
  return rec(0, new Map());
}

Deno.test("linearizability: agrees with a brute-force oracle on random small histories", () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed >>> 8) % n;
  };
  let legal = 0;
  let illegal = 0;
  for (let round = 0; round < 600; round++) {
    const n = 1 + rand(7);
    const h: KvOperation[] = [];
    for (let i = 0; i < n; i++) {
      const callTime = rand(20);
      const returnTime = rand(8) === 0 ? Infinity : callTime + rand(8);
      const key = rand(3) === 0 ? "y" : "x";
      const kind = rand(3);
      const input: KvInput = kind === 0
        ? { op: "get", key }
        : kind === 1
        ? { op: "put", key, value: String(rand(3)) }
        : { op: "append", key, value: String(rand(2)) };
      const output: KvOutput = input.op === "get"
        ? { value: ["", "0", "1", "2", "01", "10"][rand(6)], unknown: returnTime === Infinity }
        : { value: null, unknown: returnTime === Infinity };
      // Search hints on some rounds: they must never change the verdict.
      const order = round % 2 === 0 ? rand(10) : undefined;
      h.push({
        clientId: i,
        input,
        callTime,
        output,
        returnTime,
        ...(order !== undefined ? { order } : {}),
      });
    }
    const expected = bruteForce(h);
    const got = checkOperations(kvModel, h).verdict;
    strictEqual(got, expected ? "ok" : "illegal", formatHistory(kvModel, h).join("\n"));
    if (expected) legal++;
    else illegal++;
  }
  // Both outcomes are exercised.
  strictEqual(legal > 50 && illegal > 50, true, `legal ${legal}, illegal ${illegal}`);
});

Deno.test("linearizability: long histories with bounded concurrency check quickly", () => {
  let seed = 99;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed >>> 8) % n;
  };
  // 5 clients against a real (atomic) register: each op takes effect at a
  // random instant inside its interval, so the history is linearizable.
  interface Planned {
    clientId: number;
    input: KvInput;
    callTime: number;
    returnTime: number;
    effectAt: number;
    read: string | null;
  }
  const planned: Planned[] = [];
  for (let c = 0; c < 5; c++) {
    let t = 0;
    for (let i = 0; i < 400; i++) {
      const callTime = t + rand(3);
      const returnTime = callTime + 1 + rand(6);
      const effectAt = callTime + rand(returnTime - callTime) + 0.5 + c / 10;
      const input: KvInput = rand(2) === 0
        ? { op: "put", key: "x", value: `${c}.${i}` }
        : { op: "get", key: "x" };
      planned.push({ clientId: c, input, callTime, returnTime, effectAt, read: null });
      t = returnTime;
    }
  }
  let value = "";
  for (const p of [...planned].sort((a, b) => a.effectAt - b.effectAt)) {
    if (p.input.op === "put") value = p.input.value;
    else p.read = value;
  }
  const h: KvOperation[] = planned.map((p) => ({
    clientId: p.clientId,
    input: p.input,
    callTime: p.callTime,
    output: { value: p.read },
    returnTime: p.returnTime,
  }));
  const r = checkOperations(kvModel, h);
  strictEqual(r.verdict, "ok");
  ok(r.steps < 200_000, `steps ${r.steps}`);
  // One read that returns a stale value makes it illegal.
  const i = h.findIndex((o, k) => k > 1000 && o.input.op === "get" && o.output.value !== "");
  const stale = h.slice();
  stale[i] = { ...h[i], output: { value: "0.0" } };
  strictEqual(checkOperations(kvModel, stale).verdict, "illegal");
});
