import { deepStrictEqual } from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import { EntryType } from "../storage/logStorage.ts";
import { decodeConfChange, encodeConfChange } from "./confChangeCodec.ts";
import { type Message, MessageType, newMessage } from "./types.ts";

Deno.test("messages survive a msgpack round trip unchanged", () => {
  const msgs: Message[] = [
    newMessage({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 3,
      logTerm: 2,
      index: 7,
      commit: 6,
      entries: [{ term: 3, index: 8, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }],
    }),
    newMessage({
      type: MessageType.Snap,
      from: "a",
      to: "b",
      term: 3,
      snapshot: {
        metadata: {
          index: 9,
          term: 3,
          confState: {
            voters: ["a", "b"],
            learners: [],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
        offset: 0,
        totalBytes: 2,
        data: new Uint8Array([9, 9]),
      },
    }),
    newMessage({
      type: MessageType.HeartbeatResp,
      from: "b",
      to: "a",
      context: new Uint8Array([5]),
    }),
  ];
  for (const m of msgs) deepStrictEqual(decode(encode(m)), m);
});

Deno.test("conf changes round trip; empty data means leave-joint", () => {
  const cc = {
    transition: "implicit" as const,
    changes: [{ type: "add-node" as const, replicaId: "x" }],
    context: new Uint8Array([1]),
  };
  deepStrictEqual(decodeConfChange(encodeConfChange(cc)), cc);
  deepStrictEqual(decodeConfChange(new Uint8Array()), { transition: "auto", changes: [] });
  const forced = { transition: "auto" as const, changes: [], forceVoters: ["a"] };
  deepStrictEqual(decodeConfChange(encodeConfChange(forced)), forced);
});
