/**
 * What a Redis blip costs three `send --redis` workers: 300 recipients, a strict mock
 * at 30/s (burst 2, `--burst` to change), every worker at `--rate 30`, Redis with `appendonly yes` and
 * `appendfsync always`. Half the runs crash Redis (`kill -9`) after 60 messages and
 * start it again from its file 1 s later; the rest run undisturbed. Prints the 429s,
 * the numbers accepted twice and the time of each run.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env --allow-run \
 *     bench/redis_blip.ts [--runs 3] [--aof always|none] [--burst 2]
 *
 * With `--aof none` the blip empties Redis: the workers stop (exit 2) and the run
 * reports that instead (see the README's "Redis persistence and recovery").
 */

import { benchFlags } from "./flags.ts";
import { startRestartableRedis } from "../tests/support/restartable_redis.ts";
import {
  acceptedCounts,
  finishSend,
  numbers,
  sendToMock,
  serveTestMock,
  tempDir,
  writeList,
} from "../tests/support/send_cli.ts";

const flags = benchFlags({ runs: 3, aof: "always", burst: 2 });
const { runs, burst } = flags;
const aof = flags.aof !== "none";

async function once(blip: boolean): Promise<string> {
  await using dir = await tempDir();
  await using redis = await startRestartableRedis({ dir: dir.path, aof });
  await using server = await serveTestMock({ ratePerSecond: 30, burst });
  const list = numbers(300);
  const file = await writeList(`${dir.path}/recipients.txt`, list);
  const started = performance.now();
  const workers = Promise.all([0, 1, 2].map(async (i) =>
    finishSend(
      await sendToMock(file, server.url, [
        "--redis",
        redis.url,
        "--rate",
        "30",
        "--journal",
        `${dir.path}/w${i}.journal.jsonl`,
      ]).output(),
    )
  ));
  if (blip) {
    while (server.stats().accepted < 60) await new Promise((resolve) => setTimeout(resolve, 5));
    await redis.crash();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await redis.restart();
  }
  const codes = (await workers).map((run) => run.code).join(",");
  const seconds = (performance.now() - started) / 1000;
  const twice = [...acceptedCounts(server).values()].filter((count) => count > 1).length;
  const { accepted, throttled } = server.stats();
  return `${blip ? "blip   " : "no blip"}  exit ${codes}  ${accepted} accepted  ` +
    `${String(throttled).padStart(3)} × 429  ${twice} twice  ${seconds.toFixed(1)} s`;
}

console.log(
  `three workers, 300 recipients, mock 30/s burst ${burst}, AOF ${aof ? "always" : "off"}`,
);
for (let i = 0; i < runs; i++) {
  console.log(await once(false));
  console.log(await once(true));
}
