import { ok, strictEqual } from "node:assert/strict";
import { Progress } from "./progress.ts";

function pr(): Progress {
  return new Progress(11, 2, 1000, false);
}

Deno.test("progress: probe sends one append, then pauses until an answer", () => {
  const p = pr();
  strictEqual(p.state, "probe");
  ok(!p.isPaused());
  p.sentEntries(3, 30, 13);
  ok(p.isPaused());
  ok(p.maybeUpdate(13));
  ok(!p.isPaused());
  strictEqual(p.next, 14);
});

Deno.test("progress: replicate pipelines within the inflight window", () => {
  const p = pr();
  p.match = 10;
  p.becomeReplicate();
  strictEqual(p.next, 11);
  p.sentEntries(2, 20, 12);
  strictEqual(p.next, 13);
  ok(!p.isPaused());
  p.sentEntries(2, 20, 14);
  ok(p.isPaused(), "window of 2 messages is full");
  p.maybeUpdate(12);
  p.inflights.freeLE(12);
  ok(!p.isPaused());
});

Deno.test("progress: fast back-off uses the follower's hint; stale rejections are ignored", () => {
  const p = new Progress(101, 8, 1000, false);
  // Probe at 100 rejected; follower hints its log matches at most up to 40.
  ok(p.maybeDecrTo(100, 40));
  strictEqual(p.next, 41);
  ok(!p.maybeDecrTo(100, 10), "stale: next-1 is no longer 100");
  // Replicate: a rejection above match resets next to match+1.
  p.match = 30;
  p.becomeReplicate();
  p.sentEntries(5, 5, 35);
  ok(!p.maybeDecrTo(20, 0), "stale: at or below match");
  ok(p.maybeDecrTo(33, 0));
  strictEqual(p.next, 31);
});

Deno.test("progress: snapshot state pauses; becomeProbe resumes after the snapshot", () => {
  const p = pr();
  p.becomeSnapshot(50);
  ok(p.isPaused());
  p.becomeProbe();
  strictEqual(p.next, 51);
  strictEqual(p.pendingSnapshot, 0);
});

Deno.test("progress: withLearner copies without touching the original", () => {
  const p = pr();
  p.match = 7;
  const q = p.withLearner(true);
  ok(q.isLearner && !p.isLearner);
  strictEqual(q.match, 7);
});
