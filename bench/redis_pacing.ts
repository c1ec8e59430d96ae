/**
 * How closely a shared Redis budget is kept in real time, on this machine: the figures the
 * tests no longer assert (a loaded machine moves them; the tests keep only what must hold).
 *
 * - three `RedisLimiter`s in this process sharing 50/s take 150 tokens: span of the
 *   wake-ups against the ideal (150 − 1)/50 s, and the busiest second;
 * - two `main.ts send --redis` workers share 20/s for 60 recipients against the mock
 *   limited to 20/s (burst 2): span of the acceptances against (60 − 1)/20 s, 429s, the
 *   busiest second of arrivals.
 *
 *   deno run --allow-net=127.0.0.1 --allow-run --allow-env --allow-read --allow-write \
 *     bench/redis_pacing.ts [--runs 3]
 *
 * The tests used to demand span ÷ ideal within 1.03 (limiters) and 1.10 (senders) with no
 * 429 and at most 52 grants in a second. On the shared 2-core machine, loaded by other
 * test runs (1 December 2026), two runs gave: limiters 1.000× with busiest seconds of 56
 * and 51 (wake-ups bunched after a stall); senders 1.065× and 1.031× with 2 and 1 429s.
 */

import { benchFlags } from "./flags.ts";
import { connectRedis } from "../lib/redis/connect.ts";
import { RedisLimiter } from "../lib/redis/mod.ts";
import { redisInstalled, startRedisServer } from "../tests/support/redis_server.ts";
import { numbers, runSend, serveTestMock, tempDir, writeList } from "../tests/support/send_cli.ts";
import { busiestSecond } from "../tests/support/windows.ts";

const { runs } = benchFlags({ runs: 3 });

if (!redisInstalled) {
  console.error("redis-server is not installed: nothing to measure");
  Deno.exit(1);
}

async function limiterRun(url: string): Promise<string> {
  await using admin = await connectRedis(url);
  const workers = [0, 1, 2].map(() =>
    new RedisLimiter({ redis: url, key: "bench-budget", ratePerSecond: 50 })
  );
  try {
    await Promise.all(workers.map((worker) => worker.reserve()));
    await admin.sendCommand(["DEL", "bench-budget"]);
    const grants: number[] = [];
    await Promise.all(
      workers.flatMap((worker) =>
        Array.from({ length: 50 }, () => worker.take().then(() => grants.push(performance.now())))
      ),
    );
    const spanMs = Math.max(...grants) - Math.min(...grants);
    const idealMs = (150 - 1) / 50 * 1000;
    return `span ${(spanMs / idealMs).toFixed(3)}× ideal, busiest second ${busiestSecond(grants)}`;
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
  }
}

async function sendRun(url: string, run: number): Promise<string> {
  await using dir = await tempDir("politely-bench-");
  await using server = await serveTestMock({ ratePerSecond: 20, burst: 2 });
  // Other numbers each run: the queue is named after the list, and a finished one stays done.
  const file = await writeList(`${dir.path}/recipients.txt`, numbers(60, run * 100));
  const worker = (n: number) =>
    runSend(file, server.url, [
      "--redis",
      url,
      "--rate",
      "20",
      "--journal",
      `${dir.path}/worker${n}.journal.jsonl`,
    ]);
  const results = await Promise.all([worker(1), worker(2)]);
  for (const result of results) {
    if (result.code !== 0) throw new Error(`a worker failed: ${result.stderr}`);
  }
  const stats = server.stats();
  const times = server.messages().map((message) => message.timeMs);
  const spanMs = Math.max(...times) - Math.min(...times);
  const idealMs = (60 - 1) / 20 * 1000;
  const busiest = Math.max(...stats.perSecond.map((second) => second.arrivals));
  return `span ${(spanMs / idealMs).toFixed(3)}× ideal, ${stats.throttled} 429s, ` +
    `busiest second ${busiest} arrivals, accepted ${stats.accepted}/60`;
}

await using redis = await startRedisServer();
for (let run = 1; run <= runs; run++) {
  console.log(`run ${run}: 3 limiters, 150 takes at 50/s: ${await limiterRun(redis.url)}`);
  console.log(`run ${run}: 2 send --redis workers, 60 at 20/s: ${await sendRun(redis.url, run)}`);
}
