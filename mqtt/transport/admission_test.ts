import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createMemoryLogger } from "../../log/jsonLog.ts";
import { AdmissionControl, DeadlineQueue } from "./admission.ts";
import { defaultTransportLimits } from "./types.ts";

function admit(a: AdmissionControl, remoteAddress: string, nowMs: number) {
  const reason = a.tryAdmit(nowMs);
  if (reason !== null) a.reject(reason, () => remoteAddress, nowMs);
  return reason;
}

Deno.test("admission: max connections, per-second window, release", () => {
  const log = createMemoryLogger();
  const limits = { ...defaultTransportLimits(), maxConnections: 3, maxConnectsPerSecond: 2 };
  const a = new AdmissionControl("tcp", limits, log);
  assertEquals(admit(a, "x", 1000), null);
  assertEquals(admit(a, "x", 1500), null);
  assertEquals(admit(a, "x", 1999), "max-connects-per-second");
  assertEquals(admit(a, "x", 2000), null);
  assertEquals(admit(a, "x", 2001), "max-connections");
  a.release();
  assertEquals(admit(a, "x", 2002), null);
  assertEquals(a.rejected["max-connections"], 1);
  assertEquals(a.rejected["max-connects-per-second"], 1);
  // Two rejections within one second: one line; the next line counts the suppressed one.
  assertEquals(log.lines.length, 1);
  assertEquals(admit(a, "y", 2500), "max-connections");
  assertEquals(admit(a, "y", 3100), "max-connections");
  assertEquals(log.lines.length, 2);
  assertEquals(log.lines[1].suppressed, 2);
});

Deno.test("deadline queue: fires in order, only due entries, stops its timer when empty", () => {
  let now = 0;
  const q = new DeadlineQueue<string>(100, () => now);
  const fired: string[] = [];
  q.add("a", 0, () => fired.push("a"));
  q.add("b", 50, () => fired.push("b"));
  q.add("c", 60, () => fired.push("c"));
  q.retarget("b", () => fired.push("B"));
  q.delete("c");
  now = 99;
  q.sweep();
  assertEquals(fired.length, 0);
  now = 150;
  q.sweep();
  assertEquals(fired, ["a", "B"]);
  assertEquals(q.size, 0); // timer stopped (sanitizer would flag a leak)
  q.add("d", 150, () => fired.push("d"));
  q.clear();
});
