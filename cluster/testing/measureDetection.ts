/**
 * Measures, with real processes on 127.0.0.1 and default membership settings:
 * join convergence of 5 nodes, detection time (kill -9 → every other node logs
 * `member.dead`) p50/p99, rejoin time (restart → every other node logs
 * `member.alive`), and false positives (suspect/dead about a live node).
 *
 * Usage: `deno run -A cluster/testing/measureDetection.ts [cycles=20] [entry=cluster/main_membership.ts]`
 *
 * @module
 */

import { freePorts, NodeProcess, waitUntil, writeNodeConfig } from "./nodeProcess.ts";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

if (import.meta.main) {
  const cycles = Number(Deno.args[0] ?? 20);
  const entry = Deno.args[1] ?? "cluster/main_membership.ts";
  const n = 5;
  const dir = await Deno.makeTempDir({ prefix: "edgemq-measure-" });
  const ports = await freePorts(n);
  const ids = ports.map((p) => `127.0.0.1:${p}`);
  const configs = ports.map((port, i) => writeNodeConfig(dir, i, port, ids));
  const procs: NodeProcess[] = [];
  const retired: NodeProcess[] = [];
  try {
    const t0 = Date.now();
    for (let i = 0; i < n; i++) procs.push(new NodeProcess(`node${i}`, configs[i], entry));
    await waitUntil(
      "join",
      () => procs.every((p, i) => ids.every((id, j) => i === j || p.logged("member.alive", id))),
      30_000,
    );
    const joinMs = Date.now() - t0;
    const detect: number[] = [];
    const rejoin: number[] = [];
    const windows: { id: string; fromMs: number; toMs: number }[] = [];
    for (let c = 0; c < cycles; c++) {
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000));
      const victim = c % n;
      const others = ids.map((_, i) => i).filter((i) => i !== victim);
      const killedAt = Date.now();
      await procs[victim].kill();
      await waitUntil(
        "dead",
        () => others.every((i) => procs[i].loggedAt("member.dead", ids[victim], killedAt)),
        60_000,
      );
      detect.push(
        Math.max(...others.map((i) => procs[i].loggedAt("member.dead", ids[victim], killedAt)!)) -
          killedAt,
      );
      retired.push(procs[victim]);
      const restartedAt = Date.now();
      procs[victim] = new NodeProcess(`node${victim}`, configs[victim], entry);
      await waitUntil(
        "alive",
        () => others.every((i) => procs[i].loggedAt("member.alive", ids[victim], restartedAt)),
        60_000,
      );
      rejoin.push(
        Math.max(
          ...others.map((i) => procs[i].loggedAt("member.alive", ids[victim], restartedAt)!),
        ) -
          restartedAt,
      );
      windows.push({ id: ids[victim], fromMs: killedAt, toMs: Date.now() });
      console.error(`cycle ${c}: detect ${detect[c]} ms, rejoin ${rejoin[c]} ms`);
    }
    // False positives: a suspect/dead line about a member outside its kill windows
    // [kill, restarted and seen alive by all].
    let falseDead = 0;
    let falseSuspect = 0;
    for (const p of [...procs, ...retired]) {
      for (const l of p.lines) {
        if (l.fields.event !== "member.dead" && l.fields.event !== "member.suspect") continue;
        const member = String(l.fields.member);
        const explained = windows.some((w) =>
          w.id === member && l.atMs >= w.fromMs && l.atMs <= w.toMs
        );
        if (explained) continue;
        l.fields.event === "member.dead" ? falseDead++ : falseSuspect++;
        const last = windows.filter((w) => w.fromMs <= l.atMs).at(-1);
        console.error(
          `false ${String(l.fields.event)} by ${p.name} about ${member} (${
            String(l.fields.previous)
          }, by ${String(l.fields.accuser)}, inc ${String(l.fields.incarnation)}) ${
            last ? `${l.atMs - last.toMs} ms after cycle of ${last.id} ended` : "before any kill"
          }`,
        );
      }
    }
    console.log(JSON.stringify({
      nodes: n,
      cycles,
      joinConvergenceMs: joinMs,
      detectP50Ms: percentile(detect, 50),
      detectP99Ms: percentile(detect, 99),
      detectMaxMs: Math.max(...detect),
      rejoinP50Ms: percentile(rejoin, 50),
      rejoinP99Ms: percentile(rejoin, 99),
      falseDeadLines: falseDead,
      falseSuspectLines: falseSuspect,
    }));
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
