/**
 * What `--concurrency` costs: 100 recipients through the real CLI against the mock
 * (no rate limit, 20 ms latency) at `--rate 100000` and concurrency 16, 10,000 and
 * 1,000,000,000. Each worker slot costs nothing until a recipient fills it, so the
 * three should take about as long (the CLI's own start-up included).
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env --allow-run \
 *     bench/send_concurrency.ts [--recipients 100] [--runs 3] [--limit 60]
 *
 * A run still going after `--limit` seconds is killed and reported as such.
 */

import { benchFlags } from "./flags.ts";
import {
  finishSend,
  numbers,
  sendToMock,
  serveTestMock,
  tempDir,
  writeList,
} from "../tests/support/send_cli.ts";

const values = benchFlags({ recipients: 100, runs: 3, limit: 60, settings: "16,10000,1000000000" });
const { recipients, runs } = values;
const limitMs = values.limit * 1000;

async function once(concurrency: string): Promise<{ wallMs: number; accepted: number }> {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0, latencyMs: 20 });
  const file = await writeList(`${dir.path}/recipients.txt`, numbers(recipients));
  const command = sendToMock(file, server.url, [
    "--rate",
    "100000",
    "--concurrency",
    concurrency,
  ]);
  const started = performance.now();
  const child = command.spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const run = finishSend(await child.output());
  clearTimeout(timer);
  const wallMs = performance.now() - started;
  return { wallMs, accepted: run.summary?.accepted ?? server.stats().accepted };
}

console.log(
  `${recipients} recipients, mock without a rate limit, 20 ms latency, ${runs} runs each`,
);
console.log("concurrency   median wall   accepted");
for (const concurrency of values.settings.split(",")) {
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await once(concurrency));
  const walls = results.map((r) => r.wallMs).sort((a, b) => a - b);
  const median = walls[Math.floor(walls.length / 2)]!;
  const accepted = results.map((r) => r.accepted).join("/");
  console.log(
    `${concurrency.padStart(11)}   ${(median / 1000).toFixed(2).padStart(9)} s   ${accepted}`,
  );
}
