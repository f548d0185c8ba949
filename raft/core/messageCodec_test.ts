import { deepStrictEqual, throws } from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import { EntryType } from "../storage/logStorage.ts";
import { InvalidMessageError, parseMessage } from "./messageCodec.ts";
import { MessageType, newMessage } from "./types.ts";

const app = newMessage({
  type: MessageType.App,
  from: "a",
  to: "b",
  term: 2,
  index: 4,
  logTerm: 1,
  entries: [
    { term: 2, index: 5, type: EntryType.Normal, data: new Uint8Array([1]) },
    { term: 2, index: 6, type: EntryType.ConfChange, data: new Uint8Array() },
  ],
});

Deno.test("parseMessage accepts what the core sends, after msgpack", () => {
  deepStrictEqual(parseMessage(decode(encode(app))), app);
  const hb = newMessage({ type: MessageType.Heartbeat, from: "a", to: "b", term: 1, commit: 3 });
  deepStrictEqual(parseMessage(decode(encode(hb))), hb);
});

Deno.test("parseMessage names the bad field", () => {
  const bad = (patch: Record<string, unknown>, field: RegExp) =>
    throws(() => parseMessage({ ...app, ...patch }), (e: unknown) => {
      return e instanceof InvalidMessageError && field.test(e.field);
    });
  bad({ type: "MsgNope" }, /^type$/);
  bad({ term: -1 }, /^term$/);
  bad({ term: 1.5 }, /^term$/);
  bad({ from: 7 }, /^from$/);
  bad({ context: "x" }, /^context$/);
  bad({ entries: [{ term: 2, index: 9, type: 0, data: new Uint8Array() }] }, /entries\[0\]\.index/);
  bad({ entries: [{ term: 2, index: 5, type: 7, data: new Uint8Array() }] }, /entries\[0\]\.type/);
  bad({ reject: 1 }, /^reject$/);
  throws(() => parseMessage(null), InvalidMessageError);
  throws(() => parseMessage([1, 2]), InvalidMessageError);
  throws(
    () => parseMessage(newMessage({ type: MessageType.Snap, from: "a", to: "b", term: 1 })),
    InvalidMessageError,
  );
});
