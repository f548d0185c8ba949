import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import fc from "fast-check";
import { FrameGuard, MAX_REMAINING_LENGTH } from "./frameGuard.ts";
import type { FrameError } from "./types.ts";

/** Encodes an MQTT remaining length (1-4 bytes). */
function encodeLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function packet(firstByte: number, body: Uint8Array): Uint8Array {
  return Uint8Array.from([firstByte, ...encodeLength(body.length), ...body]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

interface Outcome {
  packets: number[][];
  error: FrameError | null;
}

/** Naive oracle: splits the whole stream at once, byte by byte. */
function oracleSplit(stream: Uint8Array, maxBytes: number): Outcome {
  const packets: number[][] = [];
  let off = 0;
  while (off < stream.length) {
    const type = stream[off];
    let value = 0;
    let i = 1;
    let complete = false;
    let truncated = false;
    for (; i <= 4; i++) {
      if (off + i >= stream.length) {
        truncated = true;
        break;
      }
      const b = stream[off + i];
      value += (b & 0x7f) * 128 ** (i - 1);
      if ((b & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete && !truncated) {
      // A 4th length byte with the continuation bit set is already malformed.
      return {
        packets,
        error: { kind: "malformed-remaining-length", message: "", packetType: type >> 4 },
      };
    }
    if (!complete) return { packets, error: null };
    const total = 1 + i + value;
    if (total > maxBytes) {
      return {
        packets,
        error: {
          kind: "packet-too-large",
          message: "",
          packetType: type >> 4,
          declaredBytes: total,
        },
      };
    }
    if (off + total > stream.length) return { packets, error: null };
    packets.push([...stream.subarray(off, off + total)]);
    off += total;
  }
  return { packets, error: null };
}

/** Runs the guard over the stream cut at the given points. */
function guardSplit(stream: Uint8Array, cuts: number[], maxBytes: number): Outcome & {
  maxBuffered: number;
} {
  const packets: number[][] = [];
  let error: FrameError | null = null;
  const guard = new FrameGuard(maxBytes, {
    framePacket: (p) => packets.push([...p]),
    frameError: (e) => {
      assertEquals(error, null, "only one frame error");
      error = { ...e, message: "" };
    },
  });
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  let maxBuffered = 0;
  for (const p of [...points, stream.length]) {
    // Copy so a view can never alias another chunk.
    guard.push(stream.slice(prev, p));
    maxBuffered = Math.max(maxBuffered, guard.bufferedBytes);
    prev = p;
  }
  return { packets, error, maxBuffered };
}

const packetArb = fc.record({
  firstByte: fc.integer({ min: 0, max: 255 }),
  body: fc.uint8Array({ maxLength: 300 }),
}).map(({ firstByte, body }) => packet(firstByte, body));

Deno.test("splits a stream of packets the same way whatever the chunking", () => {
  fc.assert(
    fc.property(
      fc.array(packetArb, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (packets, cuts) => {
        const stream = concat(packets);
        const out = guardSplit(stream, cuts, 1024);
        assertEquals(out.error, null);
        assertEquals(out.packets, packets.map((p) => [...p]));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("random mutations: guard agrees with the naive oracle and never buffers beyond the max", () => {
  fc.assert(
    fc.property(
      fc.array(packetArb, { maxLength: 10 }),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
        maxLength: 8,
      }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.integer({ min: 2, max: 400 }),
      (packets, mutations, cuts, maxBytes) => {
        const stream = concat(packets);
        for (const m of mutations) {
          if (stream.length > 0) stream[m.at % stream.length] = m.byte;
        }
        const expected = oracleSplit(stream, maxBytes);
        const out = guardSplit(stream, cuts, maxBytes);
        assertEquals(out.packets, expected.packets);
        assertEquals(out.error, expected.error);
        assert(out.maxBuffered <= Math.max(maxBytes, 5), `buffered ${out.maxBuffered}`);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("random garbage bytes never throw and end in at most one error", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (stream, cuts) => {
        const expected = oracleSplit(stream, 256);
        const out = guardSplit(stream, cuts, 256);
        assertEquals(out.packets, expected.packets);
        assertEquals(out.error, expected.error);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("a packet within one chunk is a zero-copy view", () => {
  const chunk = concat([packet(0x30, new Uint8Array(10)), packet(0xc0, new Uint8Array(0))]);
  const seen: Uint8Array[] = [];
  const guard = new FrameGuard(100, { framePacket: (p) => seen.push(p), frameError: () => {} });
  guard.push(chunk);
  assertEquals(seen.length, 2);
  assert(seen[0].buffer === chunk.buffer && seen[0].byteOffset === 0);
  assert(seen[1].buffer === chunk.buffer && seen[1].byteOffset === 12);
  assertEquals([...seen[1]], [0xc0, 0]);
});

Deno.test("a huge declared length is rejected from the header alone, before any body", () => {
  const errors: FrameError[] = [];
  const guard = new FrameGuard(1024 * 1024, {
    framePacket: () => {
      throw new Error("no packet expected");
    },
    frameError: (e) => errors.push(e),
  });
  guard.push(Uint8Array.from([0x30, ...encodeLength(MAX_REMAINING_LENGTH)]));
  assertEquals(errors.length, 1);
  assertEquals(errors[0].kind, "packet-too-large");
  assertEquals(errors[0].packetType, 3);
  assertEquals(errors[0].declaredBytes, MAX_REMAINING_LENGTH + 5);
  assert(errors[0].message.includes(String(MAX_REMAINING_LENGTH + 5)), errors[0].message);
  assertEquals(guard.bufferedBytes, 0);
  assert(guard.stopped);
  guard.push(packet(0xc0, new Uint8Array(0))); // ignored after the error
});

Deno.test("header split byte by byte then a declared size within the max buffers only what arrived", () => {
  const guard = new FrameGuard(1024 * 1024, { framePacket: () => {}, frameError: () => {} });
  for (const b of [0x30, ...encodeLength(1024 * 1024 - 4)]) guard.push(Uint8Array.of(b));
  guard.push(new Uint8Array(10));
  assert(guard.bufferedBytes <= 4096, `buffered ${guard.bufferedBytes}`);
});

Deno.test("a fifth continuation byte is malformed", () => {
  const errors: FrameError[] = [];
  const guard = new FrameGuard(1024, { framePacket: () => {}, frameError: (e) => errors.push(e) });
  guard.push(Uint8Array.of(0x10, 0xff, 0xff));
  guard.push(Uint8Array.of(0xff, 0xff, 0x01));
  assertEquals(errors.map((e) => e.kind), ["malformed-remaining-length"]);
  assertEquals(errors[0].packetType, 1);
});

Deno.test("setMaxPacketBytes only lowers the limit and validates it", () => {
  const errors: FrameError[] = [];
  const guard = new FrameGuard(100, { framePacket: () => {}, frameError: (e) => errors.push(e) });
  guard.setMaxPacketBytes(1000);
  assertEquals(guard.maxPacketBytes, 100);
  guard.setMaxPacketBytes(10);
  assertEquals(guard.maxPacketBytes, 10);
  guard.push(packet(0x30, new Uint8Array(9)));
  assertEquals(errors[0]?.declaredBytes, 11);
  throws(() => guard.setMaxPacketBytes(1), /got 1/);
  throws(() => new FrameGuard(Number.NaN, { framePacket() {}, frameError() {} }), RangeError);
});

Deno.test("stop() from inside onPacket ends delivery of the rest of the chunk", () => {
  const seen: number[] = [];
  const guard: FrameGuard = new FrameGuard(100, {
    framePacket: (p) => {
      seen.push(p[0]);
      guard.stop();
    },
    frameError: () => {},
  });
  guard.push(concat([packet(0x30, new Uint8Array(1)), packet(0x40, new Uint8Array(1))]));
  assertEquals(seen, [0x30]);
});

Deno.test("hold/release/push at random points (also from inside callbacks) never reorders or loses packets", () => {
  fc.assert(
    fc.property(
      fc.array(packetArb, { minLength: 1, maxLength: 15 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.array(fc.constantFrom("hold", "release", "holdThenRelease", "pushNext", "none"), {
        maxLength: 40,
      }),
      (packets, cuts, actions) => {
        const stream = concat(packets);
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          chunks.push(stream.slice(prev, p));
          prev = p;
        }
        let next = 0;
        const pushNext = () => {
          if (next < chunks.length) guard.push(chunks[next++]);
        };
        const seen: number[][] = [];
        let step = 0;
        let holding = false;
        const guard: FrameGuard = new FrameGuard(1024, {
          framePacket: (p) => {
            seen.push([...p]);
            const action = actions[step++ % Math.max(actions.length, 1)];
            if (action === "hold") {
              guard.hold();
              holding = true;
            } else if (action === "release") {
              holding = false;
              guard.release();
            } else if (action === "pushNext") pushNext();
            else if (action === "holdThenRelease") {
              guard.hold();
              guard.release();
              holding = false;
            }
          },
          frameError: () => {
            throw new Error("no error expected");
          },
        });
        while (next < chunks.length) {
          pushNext();
          if (!holding) assertEquals(guard.heldBytes, 0, "nothing held unless holding");
          if (step % 3 === 0) {
            holding = false;
            guard.release();
          }
        }
        for (let i = 0; i < 100 && seen.length < packets.length; i++) guard.release();
        assertEquals(seen, packets.map((p) => [...p]));
        assertEquals(guard.heldBytes, 0);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("hold() inside a callback stops the rest of the chunk until release()", () => {
  const seen: number[] = [];
  const guard: FrameGuard = new FrameGuard(100, {
    framePacket: (p) => {
      seen.push(p[0]);
      if (p[0] === 0x30) guard.hold();
    },
    frameError: () => {},
  });
  guard.push(concat([packet(0x30, new Uint8Array(1)), packet(0x40, new Uint8Array(1))]));
  guard.push(packet(0x50, new Uint8Array(0)));
  assertEquals(seen, [0x30]);
  assertEquals(guard.heldBytes, 5);
  guard.release();
  assertEquals(seen, [0x30, 0x40, 0x50]);
});
