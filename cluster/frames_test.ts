import { deepStrictEqual, throws } from "node:assert/strict";
import fc from "fast-check";
import { encodeFrame, FrameDecoder, FrameError } from "./frames.ts";

Deno.test("frames: any split of a stream of frames decodes to the same values", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string(), fc.integer(), fc.uint8Array({ maxLength: 300 })), {
        maxLength: 20,
      }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      (values, cuts) => {
        const parts = values.map((v) => encodeFrame(v));
        const stream = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let o = 0;
        for (const p of parts) {
          stream.set(p, o);
          o += p.byteLength;
        }
        const d = new FrameDecoder(1024);
        const out: unknown[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.byteLength; i++) {
          const len = cuts[i % cuts.length];
          out.push(...d.push(stream.subarray(pos, pos + len)));
          pos += len;
        }
        deepStrictEqual(out, values);
      },
    ),
    { seed: 42, numRuns: 200 },
  );
});

Deno.test("frames: an oversized length is refused before buffering", () => {
  const d = new FrameDecoder(16);
  throws(() => d.push(new Uint8Array([0, 0, 0, 17])), FrameError);
  throws(() => new FrameDecoder(16).push(new Uint8Array([0, 0, 0, 1, 0xc1])), FrameError);
});
