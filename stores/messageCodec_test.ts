import { deepStrictEqual, throws } from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { decodeStoredMessage, encodeStoredMessage, MessageDecodeError } from "./messageCodec.ts";
import type { StoredMessage } from "./message.ts";

const full: StoredMessage = {
  tenant: "t",
  topic: "a/b",
  payload: new Uint8Array([0, 1, 255]),
  qos: 2,
  retain: true,
  publisherClientId: "pub",
  receivedAtMs: 1_700_000_000_123,
  expiresAtMs: 1_700_000_060_000,
  properties: {
    payloadFormatIndicator: true,
    contentType: "text/plain",
    responseTopic: "r/t",
    correlationData: new Uint8Array([9]),
    userProperties: [["k", "v"], ["k", "w"]],
  },
};

Deno.test("messageCodec: round trip, with and without properties", () => {
  deepStrictEqual(decodeStoredMessage(encodeStoredMessage(full)), full);
  const bare: StoredMessage = {
    ...full,
    expiresAtMs: null,
    properties: {},
    payload: new Uint8Array(),
  };
  deepStrictEqual(decodeStoredMessage(encodeStoredMessage(bare)), bare);
});

Deno.test("messageCodec: unreadable blobs throw MessageDecodeError", () => {
  throws(() => decodeStoredMessage(new Uint8Array([0xc1])), MessageDecodeError);
  throws(() => decodeStoredMessage(encode({ a: 1 })), MessageDecodeError);
  throws(
    () => decodeStoredMessage(encode([2, "t", "a", new Uint8Array(), 0, false, "p", 1, null, []])),
    /layout/,
  );
  throws(
    () =>
      decodeStoredMessage(
        encode([1, "t", "a", new Uint8Array(), 3, false, "p", 1, null, [
          null,
          null,
          null,
          null,
          null,
        ]]),
      ),
    /qos/,
  );
});
