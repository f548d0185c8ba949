import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { SnapshotAssembler } from "./snapshotAssembler.ts";
import type { SnapshotChunk } from "./types.ts";

const metadata = {
  index: 10,
  term: 2,
  confState: {
    voters: ["a"],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  },
};

function chunks(data: number[], size: number): SnapshotChunk[] {
  const out: SnapshotChunk[] = [];
  for (let off = 0; off < data.length || off === 0; off += size) {
    out.push({
      metadata,
      offset: off,
      totalBytes: data.length,
      data: new Uint8Array(data.slice(off, off + size)),
    });
    if (data.length === 0) break;
  }
  return out;
}

Deno.test("snapshot assembler: reordered and duplicated chunks", () => {
  const a = new SnapshotAssembler(1000);
  const [c0, c1, c2] = chunks([1, 2, 3, 4, 5, 6, 7], 3);
  strictEqual(a.add(1, c2), null);
  strictEqual(a.add(1, c0), null);
  strictEqual(a.add(1, c0), null, "a duplicate does not count twice");
  const snap = a.add(1, c1);
  deepStrictEqual([...snap!.data], [1, 2, 3, 4, 5, 6, 7]);
  strictEqual(snap!.metadata.index, 10);
});

Deno.test("snapshot assembler: empty snapshot, size bound, leader change", () => {
  const a = new SnapshotAssembler(5);
  deepStrictEqual([...a.add(1, chunks([], 3)[0])!.data], []);
  strictEqual(a.add(1, chunks([1, 2, 3, 4, 5, 6], 3)[0]), null, "over maxSnapshotBytes");
  const [c0, c1] = chunks([1, 2, 3, 4], 2);
  strictEqual(a.add(1, c0), null);
  strictEqual(a.add(2, c1), null, "a new leader term restarts the assembly");
  deepStrictEqual([...a.add(2, c0)!.data], [1, 2, 3, 4]);
});
