/**
 * Pauses one of 5 node processes (SIGSTOP) past its suspicion timeout, resumes it
 * (SIGCONT) and reports: when the others declared it dead, whether it refuted, and
 * when every other node saw it alive again.
 *
 * Usage: `deno run -A cluster/testing/measurePause.ts [pauseMs=15000] [entry=cluster/main_membership.ts]`
 *
 * @module
 */

import { freePorts, NodeProcess, waitUntil, writeNodeConfig } from "./nodeProcess.ts";

if (import.meta.main) {
  const pauseMs = Number(Deno.args[0] ?? 15_000);
  const entry = Deno.args[1] ?? "cluster/main_membership.ts";
  const dir = await Deno.makeTempDir({ prefix: "edgemq-pause-" });
  const ports = await freePorts(5);
  const ids = ports.map((p) => `127.0.0.1:${p}`);
  const procs: NodeProcess[] = [];
  try {
    ports.forEach((port, i) => {
      procs.push(new NodeProcess(`node${i}`, writeNodeConfig(dir, i, port, ids), entry));
    });
    await waitUntil(
      "join",
      () => procs.every((p, i) => ids.every((id, j) => i === j || p.logged("member.alive", id))),
      30_000,
    );
    const victim = 2;
    const others = [0, 1, 3, 4];
    const pausedAt = Date.now();
    procs[victim].signal("SIGSTOP");
    await new Promise((r) => setTimeout(r, pauseMs));
    const deadAt = others.map((i) => procs[i].loggedAt("member.dead", ids[victim], pausedAt));
    const resumedAt = Date.now();
    procs[victim].signal("SIGCONT");
    await waitUntil(
      "alive again",
      () => others.every((i) => procs[i].loggedAt("member.alive", ids[victim], resumedAt)),
      60_000,
    );
    const backMs = Math.max(
      ...others.map((i) => procs[i].loggedAt("member.alive", ids[victim], resumedAt)!),
    ) - resumedAt;
    const refuted = procs[victim].lines.some((l) =>
      l.fields.event === "member.refute" && l.atMs >= resumedAt
    );
    console.log(JSON.stringify({
      pauseMs,
      declaredDeadAfterMs: deadAt.map((t) => (t === undefined ? null : t - pausedAt)),
      refuted,
      aliveEverywhereAfterResumeMs: backMs,
    }));
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
