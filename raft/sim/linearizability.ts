/**
 * Linearizability checker in the style of Porcupine (anishathalye/porcupine):
 * the Wing & Gong / Lowe (WGL) search with memoization of (linearized set,
 * model state), over a history split into independent partitions (P-
 * compositionality: for a key-value store, one partition per key).
 *
 * An operation whose outcome is unknown (the client timed out, the node
 * crashed) has `returnTime = Infinity`; the model must accept any output for
 * it. It may then take effect at any point after its call, or never.
 *
 * @module
 */

/** One completed (or outcome-unknown) client operation. */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  /** Time the call was issued (any monotone clock, e.g. simulator ticks). */
  readonly callTime: number;
  readonly output: O;
  /** Time the response was received; Infinity if it never was. */
  readonly returnTime: number;
  /**
   * Optional search hint: where the operation is expected in a linearization
   * (e.g. the log index at which it took effect). It only changes which
   * orders are tried first, never the verdict.
   */
  readonly order?: number;
}

/** A sequential specification. */
export interface Model<S, I, O> {
  /** Partitions the history into independent sub-histories (default: one). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** The initial state. */
  init(): S;
  /** Applies `input` to `state`; `ok` is false if `output` is not what the spec allows. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** A string identifying the state, for memoization (equal states, equal keys). */
  stateKey(state: S): string;
  /** Human-readable form of an operation for reports. */
  describe?(input: I, output: O): string;
}

/** Verdict of {@link checkOperations}. */
export type CheckVerdict = "ok" | "illegal" | "unknown";

/** Outcome of a check, with the offending partition if any. */
export interface CheckResult<I, O> {
  readonly verdict: CheckVerdict;
  /** The first partition found illegal (or that exhausted the budget). */
  readonly badPartition?: readonly Operation<I, O>[];
  /** Longest linearized prefix found in the bad partition (for reports). */
  readonly longestPrefix?: readonly Operation<I, O>[];
  /** Search steps used in total. */
  readonly steps: number;
}

/** Options of {@link checkOperations}. */
export interface CheckOptions {
  /**
   * Bound of search steps per partition; past it the verdict is "unknown"
   * (WGL is exponential in the worst case). Default 5,000,000.
   */
  readonly maxStepsPerPartition?: number;
}

interface Node<I, O> {
  /** Position of the operation in the partition; -1 for the head sentinel. */
  readonly id: number;
  readonly isCall: boolean;
  readonly op: Operation<I, O> | null;
  /** For a call: its return node. */
  match: Node<I, O> | null;
  prev: Node<I, O> | null;
  next: Node<I, O> | null;
}

function buildList<I, O>(ops: readonly Operation<I, O>[]): Node<I, O> {
  interface Ev {
    t: number;
    isCall: boolean;
    id: number;
  }
  const evs: Ev[] = [];
  ops.forEach((op, id) => {
    if (!(op.returnTime >= op.callTime)) {
      throw new RangeError(
        `operation ${id} of client ${op.clientId} returns (${op.returnTime}) before its call (${op.callTime})`,
      );
    }
    evs.push({ t: op.callTime, isCall: true, id }, { t: op.returnTime, isCall: false, id });
  });
  // At equal times calls sort before returns: touching operations count as concurrent.
  evs.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Node<I, O> = { id: -1, isCall: false, op: null, match: null, prev: null, next: null };
  const calls = new Map<number, Node<I, O>>();
  let last = head;
  for (const ev of evs) {
    const n: Node<I, O> = {
      id: ev.id,
      isCall: ev.isCall,
      op: ops[ev.id],
      match: null,
      prev: last,
      next: null,
    };
    last.next = n;
    last = n;
    if (ev.isCall) calls.set(ev.id, n);
    else calls.get(ev.id)!.match = n;
  }
  return head;
}

function lift<I, O>(call: Node<I, O>): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift<I, O>(call: Node<I, O>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

/**
 * Checks one partition; returns the verdict, steps used and the longest
 * prefix. A depth-first search over linearization orders: at each level the
 * candidates are the calls that precede the first pending return (as in
 * WGL/Porcupine), tried in `order` hint order (then call order); a
 * (linearized set, state) pair already explored is not explored again.
 */
function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): { verdict: CheckVerdict; steps: number; longest: Operation<I, O>[] } {
  const head = buildList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  interface Level {
    readonly state: S;
    readonly candidates: Node<I, O>[];
    next: number;
  }
  const candidatesNow = (): Node<I, O>[] => {
    const out: Node<I, O>[] = [];
    for (let e = head.next; e !== null && e.isCall; e = e.next) out.push(e);
    if (out.some((n) => n.op!.order !== undefined)) {
      out.sort((x, y) => (x.op!.order ?? Infinity) - (y.op!.order ?? Infinity));
    }
    return out;
  };
  const frames: { level: Level; node: Node<I, O> }[] = [];
  let longest: Operation<I, O>[] = [];
  let level: Level = { state: model.init(), candidates: candidatesNow(), next: 0 };
  let steps = 0;
  for (;;) {
    if (head.next === null) return { verdict: "ok", steps, longest };
    let advanced = false;
    while (level.next < level.candidates.length) {
      const c = level.candidates[level.next++];
      if (++steps > maxSteps) return { verdict: "unknown", steps, longest };
      const r = model.step(level.state, c.op!.input, c.op!.output);
      if (!r.ok) continue;
      linearized[c.id >>> 5] |= 1 << (c.id & 31);
      const key = `${linearized.join(",")}|${model.stateKey(r.state)}`;
      if (seen.has(key)) {
        linearized[c.id >>> 5] &= ~(1 << (c.id & 31));
        continue;
      }
      seen.add(key);
      lift(c);
      frames.push({ level, node: c });
      if (frames.length > longest.length) longest = frames.map((f) => f.node.op!);
      level = { state: r.state, candidates: candidatesNow(), next: 0 };
      advanced = true;
      break;
    }
    if (advanced) continue;
    // Every candidate failed: undo the last choice.
    const top = frames.pop();
    if (top === undefined) return { verdict: "illegal", steps, longest };
    unlift(top.node);
    linearized[top.node.id >>> 5] &= ~(1 << (top.node.id & 31));
    level = top.level;
  }
}

/**
 * Checks that `history` is linearizable with respect to `model`.
 * Partitions are checked in order; the first illegal one is reported.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult<I, O> {
  const maxSteps = opts.maxStepsPerPartition ?? 5_000_000;
  const parts = model.partition ? model.partition(history) : [history.slice()];
  let steps = 0;
  let unknown: CheckResult<I, O> | undefined;
  for (const part of parts) {
    const r = checkPartition(model, part, maxSteps);
    steps += r.steps;
    if (r.verdict === "illegal") {
      return { verdict: "illegal", badPartition: part, longestPrefix: r.longest, steps };
    }
    if (r.verdict === "unknown" && unknown === undefined) {
      unknown = { verdict: "unknown", badPartition: part, longestPrefix: r.longest, steps: 0 };
    }
  }
  return unknown !== undefined ? { ...unknown, steps } : { verdict: "ok", steps };
}

/** Input of the key-value model. */
export type KvInput =
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "append"; readonly key: string; readonly value: string };

/**
 * Output of the key-value model: the value read (get), or null for writes;
 * `unknown: true` for an operation whose outcome was never observed.
 */
export interface KvOutput {
  readonly value: string | null;
  readonly unknown?: boolean;
}

/** A key-value operation in a history. */
export type KvOperation = Operation<KvInput, KvOutput>;

/**
 * Sequential spec of a string key-value store (absent key reads as ""),
 * partitioned by key.
 */
export const kvModel: Model<string, KvInput, KvOutput> = {
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key);
      if (list === undefined) byKey.set(op.input.key, [op]);
      else list.push(op);
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
  },
  init: () => "",
  step(state, input, output) {
    switch (input.op) {
      case "get":
        return { ok: output.unknown === true || output.value === state, state };
      case "put":
        return { ok: true, state: input.value };
      case "append":
        return { ok: true, state: state + input.value };
    }
  },
  stateKey: (s) => s,
  describe(input, output) {
    const out = output.unknown ? "?" : JSON.stringify(output.value);
    return input.op === "get"
      ? `get(${input.key}) -> ${out}`
      : `${input.op}(${input.key}, ${JSON.stringify(input.value)})${output.unknown ? " ?" : ""}`;
  },
};

/** Formats a history (or partition) as lines for a failure report. */
export function formatHistory<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
): string[] {
  return [...ops].sort((a, b) => a.callTime - b.callTime).map((op) =>
    `  client ${op.clientId} [${op.callTime}, ${
      op.returnTime === Infinity ? "∞" : op.returnTime
    }] ${model.describe ? model.describe(op.input, op.output) : JSON.stringify(op.input)}`
  );
}
