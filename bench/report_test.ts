import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { buildRows, emptySamples, formatValue, renderTable } from "./report.ts";
import { parseOptions } from "./main.ts";
import type { GenResult } from "./gen_types.ts";

function fanin(msgPerSec: number, brokerCoreShare: number): GenResult {
  return {
    scenario: "fanin",
    metrics: { msgPerSec },
    genCoreShare: 0.2,
    brokerCoreShare,
    brokerCoreOtherShare: 0,
    genCoreOtherShare: 0,
    lost: 1,
    duplicates: 0,
    notes: [],
  };
}

Deno.test("rows take the median over runs, the ratio, and the target from the better peer", () => {
  const edgemq = emptySamples();
  const mosquitto = emptySamples();
  edgemq.results.set("fanin", [fanin(300_000, 1), fanin(100_000, 0.5), fanin(200_000, 1)]);
  mosquitto.results.set("fanin", [fanin(100_000, 0.5)]);
  const [row] = buildRows({ edgemq, mosquitto }, ["fanin"]);
  assertEquals(row.values, { edgemq: 200_000, mosquitto: 100_000 });
  assertEquals(row.ratio, 2);
  assertEquals(row.target, 200_000); // 2 × max(mosquitto 100k, aedes 89k)
  assertEquals(row.met, true);
  assertEquals(row.lost, { edgemq: 3, mosquitto: 1 });
  assertEquals(row.ratioPerCpu, 1); // 200k per CPU-s each
  const table = renderTable([row], ["edgemq", "mosquitto"]);
  assertEquals(table.includes("| 200.0k msg/s | 100.0k msg/s | 2.00× | 1.00× | yes |"), true);
});

Deno.test("values format in their units", () => {
  assertEquals(formatValue(734, "B"), "734 B");
  assertEquals(formatValue(8192, "B"), "8.0 KB");
  assertEquals(formatValue(0.987, "ms"), "0.99 ms");
  assertEquals(formatValue(1_234_567, "msg/s"), "1.23M msg/s");
  assertEquals(formatValue(NaN, "ms"), "—");
});

Deno.test("options: defaults, values, and errors naming the argument", () => {
  const d = parseOptions([]);
  assertEquals([d.durationMs, d.runs, d.brokers, d.json], [
    3000,
    3,
    ["edgemq", "mosquitto"],
    false,
  ]);
  const o = parseOptions(["--only", "fanin,idle", "--runs=5", "--broker", "edgemq", "--json"]);
  assertEquals([o.only, o.runs, o.brokers, o.json], [["fanin", "idle"], 5, ["edgemq"], true]);
  assertThrows(() => parseOptions(["--only", "nope"]), /unknown section "nope"/);
  assertThrows(() => parseOptions(["--runs", "0"]), /--runs must be an integer/);
  assertThrows(() => parseOptions(["--bogus"]), /unknown argument/);
});
