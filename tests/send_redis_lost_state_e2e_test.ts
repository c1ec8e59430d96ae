/**
 * End to end: Redis crashes (`kill -9`) under three real `send --redis` workers and
 * comes back, empty (no persistence) or from its append-only file (appendfsync
 * always). Empty: every worker stops with exit 2 and the recovery message, reruns
 * refuse to start afresh, `--redis-recover` on each seeds what its journal decided,
 * and the reruns finish. With the file: the workers ride through. Either way no
 * number is accepted twice unless a journal reports it uncertain, and every
 * recipient is accounted for.
 */

import assert from "node:assert/strict";
import type { JournalState } from "../lib/send/journal.ts";
import { redisTest } from "./support/redis_server.ts";
import { startRestartableRedis } from "./support/restartable_redis.ts";
import {
  acceptedCounts,
  finishSend,
  numbers,
  replayJournal,
  type SendRun,
  sendToMock,
  serveTestMock,
  tempDir,
  writeList,
} from "./support/send_cli.ts";
import type { MockVonageServer } from "../lib/mock/serve_mock_vonage.ts";

const RECIPIENTS = 300;
const WORKERS = 3;

interface Campaign {
  list: string[];
  file: string;
  journals: string[];
  server: MockVonageServer;
}

/** The campaign's list and one journal per worker in `dir`, sent to `server`. */
async function newCampaign(dir: string, server: MockVonageServer): Promise<Campaign> {
  const list = numbers(RECIPIENTS);
  return {
    list,
    file: await writeList(`${dir}/recipients.txt`, list),
    journals: Array.from({ length: WORKERS }, (_, i) => `${dir}/w${i}.journal.jsonl`),
    server,
  };
}

/** Every worker ended normally, and the last to finish saw the whole queue completed. */
function assertFinished(runs: SendRun[]): void {
  for (const run of runs) {
    assert.ok(run.code === 0 || run.code === 1, run.stderr);
    assert.doesNotMatch(run.stderr, /unexpected error/);
  }
  assert.equal(Math.max(...runs.map((run) => run.summary!.queue!.completed)), RECIPIENTS);
}

function workers(campaign: Campaign, redisUrl: string, extra: string[] = []): Promise<SendRun[]> {
  return Promise.all(campaign.journals.map(async (journal) =>
    finishSend(
      await sendToMock(campaign.file, campaign.server.url, [
        "--redis",
        redisUrl,
        "--rate",
        "30",
        "--journal",
        journal,
        ...extra,
      ]).output(),
    )
  ));
}

/** Start the workers, crash Redis once the mock has `after` messages, restart it 1 s later. */
async function crashUnderWorkers(
  campaign: Campaign,
  redis: { url: string; crash(): Promise<void>; restart(): Promise<void> },
  after: number,
): Promise<SendRun[]> {
  const running = workers(campaign, redis.url);
  const deadline = Date.now() + 20_000;
  while (campaign.server.stats().accepted < after && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await redis.crash();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await redis.restart();
  return await running;
}

/**
 * No number accepted twice unless some journal reports it uncertain; every recipient
 * decided by some journal; whatever the mock accepted, some journal calls accepted or
 * uncertain.
 */
async function assertAccounted(campaign: Campaign): Promise<{ duplicates: number }> {
  const states: ReadonlyMap<string, JournalState>[] = [];
  for (const journal of campaign.journals) states.push(await replayJournal(journal));
  const best = new Map<string, string>();
  const rank: Record<string, number> = { pending: 0, failed: 1, uncertain: 2, accepted: 3 };
  for (const map of states) {
    for (const [to, state] of map) {
      if ((rank[state.state] ?? 0) > (rank[best.get(to) ?? "pending"] ?? 0)) {
        best.set(to, state.state);
      }
    }
  }
  const uncertainSomewhere = new Set(
    states.flatMap((map) => [...map].filter(([, s]) => s.state === "uncertain").map(([to]) => to)),
  );
  const counts = acceptedCounts(campaign.server);
  let duplicates = 0;
  for (const to of campaign.list) {
    const count = counts.get(to) ?? 0;
    if (count > 1) {
      duplicates++;
      assert.ok(
        uncertainSomewhere.has(to),
        `${to} accepted ${count} times, never reported uncertain`,
      );
    }
    const decided = best.get(to);
    assert.ok(decided !== undefined && decided !== "pending", `${to} is not accounted for`);
    if (count > 0) {
      assert.ok(decided === "accepted" || decided === "uncertain", `${to}: ${decided}`);
    }
  }
  return { duplicates };
}

redisTest(
  "send --redis: Redis restarted empty under three workers: each stops (exit 2), reruns refuse, --redis-recover, then nothing goes twice",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRestartableRedis({ dir: dir.path, aof: false });
    await using server = await serveTestMock({ ratePerSecond: 30, burst: 1 });
    const campaign = await newCampaign(dir.path, server);

    const crashed = await crashUnderWorkers(campaign, redis, 60);
    for (const run of crashed) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /state vanished from Redis|state in Redis was made again/);
      assert.match(run.stderr, /--redis-recover/);
      assert.doesNotMatch(run.stderr, /unexpected error/);
    }
    const afterCrash = server.stats().accepted;
    assert.ok(afterCrash < RECIPIENTS, "the crash came before the end");

    // The same commands again: they refuse to start afresh, and send nothing.
    for (const run of await workers(campaign, redis.url)) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /state is gone from Redis|made again without this worker/);
    }
    assert.equal(server.stats().accepted, afterCrash);

    for (const run of await workers(campaign, redis.url, ["--redis-recover"])) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /redis: recovery: \d+ decisions from/);
    }
    assert.equal(server.stats().accepted, afterCrash);

    assertFinished(await workers(campaign, redis.url));
    const { duplicates } = await assertAccounted(campaign);
    console.log(`restart empty: ${duplicates} numbers accepted twice (each reported uncertain)`);
  },
);

redisTest(
  "send --redis: Redis restarted from its append-only file (fsync always) under three workers: they ride through, nothing goes twice",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRestartableRedis({ dir: dir.path, aof: true });
    await using server = await serveTestMock({ ratePerSecond: 30, burst: 1 });
    const campaign = await newCampaign(dir.path, server);

    const runs = await crashUnderWorkers(campaign, redis, 60);

    assertFinished(runs);
    const { duplicates } = await assertAccounted(campaign);
    console.log(
      `restart from AOF: ${duplicates} numbers accepted twice, ${server.stats().throttled} × 429`,
    );
  },
);

redisTest(
  "send --redis pointed at a read-only replica: exit 2 with what Redis refused, nothing sent",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRestartableRedis({ dir: dir.path, aof: false });
    await using server = await serveTestMock();
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(3));
    const { connectRedis } = await import("../lib/redis/connect.ts");
    {
      await using admin = await connectRedis(redis.url);
      // A replica of a primary that does not exist: it answers reads and refuses writes.
      await admin.sendCommand(["REPLICAOF", "127.0.0.1", "1"]);
    }

    const run = finishSend(
      await sendToMock(file, server.url, ["--redis", redis.url, "--rate", "30"]).output(),
    );

    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /refused a command: .*READONLY.*read-only replica/);
    assert.doesNotMatch(run.stderr, /unexpected error/);
    assert.equal(server.stats().accepted, 0);
  },
);

redisTest(
  "send --redis: Redis restarted from a file fsynced every second: the workers stop (its last writes may be lost), --redis-recover, then nothing goes twice",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRestartableRedis({
      dir: dir.path,
      aof: true,
      fsync: "everysec",
    });
    await using server = await serveTestMock({ ratePerSecond: 30, burst: 1 });
    const campaign = await newCampaign(dir.path, server);

    const crashed = await crashUnderWorkers(campaign, redis, 60);
    for (const run of crashed) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /Redis restarted while this worker ran, and it does not fsync/);
      assert.match(run.stderr, /--redis-recover/);
    }
    for (const run of await workers(campaign, redis.url, ["--redis-recover"])) {
      assert.equal(run.code, 0, run.stderr);
    }
    assertFinished(await workers(campaign, redis.url));
    await assertAccounted(campaign);
  },
);

redisTest(
  "send --redis: Redis gone for longer than --redis-outage: the worker stops (exit 1) saying so, soon after",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRestartableRedis({ dir: dir.path, aof: false });
    await using server = await serveTestMock({ ratePerSecond: 30, burst: 2 });
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(RECIPIENTS));
    const child = sendToMock(file, server.url, [
      "--redis",
      redis.url,
      "--rate",
      "30",
      "--redis-outage",
      "1",
    ]).spawn();
    const output = child.output();
    while (server.stats().accepted < 30) await new Promise((resolve) => setTimeout(resolve, 5));

    await redis.crash();
    const crashedAt = Date.now();
    const run = finishSend(await output);

    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+/);
    assert.match(run.stderr, /rerun the same command once Redis is back/);
    assert.doesNotMatch(run.stderr, /unexpected error/);
    assert.ok(Date.now() - crashedAt < 10_000, `${Date.now() - crashedAt} ms after the crash`);
  },
);
