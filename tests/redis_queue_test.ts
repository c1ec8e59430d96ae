import assert from "node:assert/strict";
import { RedisWorkQueue } from "../lib/redis/work_queue.ts";
import { connectRedis } from "../lib/redis/connect.ts";
import { RedisLimiter } from "../lib/redis/redis_limiter.ts";
import { createClient } from "../lib/deps/redis_client.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

interface Job {
  to: string;
}

interface Result {
  by: string;
  to: string;
}

Deno.test("new RedisWorkQueue() rejects an empty key or a bad reclaimIdleMs", () => {
  const redis = { sendCommand: () => Promise.resolve(null) };
  assert.throws(
    () => new RedisWorkQueue({ redis, key: "" }),
    new TypeError(
      `Cannot create RedisWorkQueue: 'key' must be a non-empty string, current value is ""`,
    ),
  );
  assert.throws(() => new RedisWorkQueue({ redis, key: "q", reclaimIdleMs: -1 }), RangeError);
});

redisTest(
  "RedisWorkQueue: two consumers drain 100 items, none processed twice, every outcome recorded",
  async () => {
    await using server = await startRedisServer();
    await using producer = new RedisWorkQueue<Job, Result>({ redis: server.url, key: "run" });
    const jobs = Array.from(
      { length: 100 },
      (_, i) => ({ to: `4477009${String(i).padStart(5, "0")}` }),
    );
    const ids = await producer.enqueue(jobs);
    assert.equal(ids.length, 100);
    assert.equal(new Set(ids).size, 100);

    const seen = new Map<string, string>(); // id → consumer
    let twice = 0;
    // Both connect before either claims, so both get work however slow one connection is.
    let connected = 0;
    let bothConnected!: () => void;
    const ready = new Promise<void>((resolve) => (bothConnected = resolve));
    const work = async (consumer: string) => {
      // Each worker has its own connection, as separate processes would.
      await using queue = new RedisWorkQueue<Job, Result>({ redis: server.url, key: "run" });
      await queue.counts();
      if (++connected === 2) bothConnected();
      await ready;
      for (;;) {
        const entries = await queue.claim(consumer, 7);
        if (entries.length === 0) return;
        for (const entry of entries) {
          assert.equal(entry.reclaimed, false);
          if (seen.has(entry.id)) twice++;
          seen.set(entry.id, consumer);
          await new Promise((resolve) => setTimeout(resolve, 0)); // let the other one in
          assert.equal(await queue.complete(entry.id, { by: consumer, to: entry.item.to }), true);
        }
      }
    };
    await Promise.all([work("alice"), work("bob")]);

    assert.equal(twice, 0);
    assert.deepEqual([...seen.keys()].sort(), [...ids].sort());
    const byAlice = [...seen.values()].filter((consumer) => consumer === "alice").length;
    assert.ok(byAlice > 0 && byAlice < 100, `alice did ${byAlice} of 100`);
    assert.deepEqual(await producer.counts(), { enqueued: 100, pending: 0, completed: 100 });
    for (const [index, id] of ids.entries()) {
      const outcome = await producer.outcome(id);
      assert.equal(outcome?.to, jobs[index]!.to);
      assert.equal(outcome?.by, seen.get(id));
    }
  },
);

redisTest(
  "RedisWorkQueue: a dead consumer's entries are reclaimed after the idle time, flagged reclaimed",
  async () => {
    await using server = await startRedisServer();
    // Idle for a second: long enough that a stalled machine cannot make the first claim's
    // entries idle before the second claim, short enough to wait for.
    const options = { redis: server.url, key: "run", reclaimIdleMs: 1_000 };
    await using dead = new RedisWorkQueue<Job, string>(options);
    await using alive = new RedisWorkQueue<Job, string>(options);
    const ids = await dead.enqueue(Array.from({ length: 8 }, (_, i) => ({ to: `${i}` })));

    const held = await dead.claim("dead", 3); // … and never completes them
    assert.deepEqual(held.map((entry) => entry.id), ids.slice(0, 3));

    // Not idle long enough yet: the other consumer only gets fresh entries.
    const fresh = await alive.claim("alive", 10);
    assert.deepEqual(
      fresh.map((entry) => [entry.id, entry.reclaimed]),
      ids.slice(3).map((id) => [id, false]),
    );
    for (const entry of fresh) await alive.complete(entry.id, "accepted");
    assert.deepEqual(await alive.claim("alive", 10), []);

    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const reclaimed = await alive.claim("alive", 10);
    assert.deepEqual(
      reclaimed.map((entry) => [entry.id, entry.item.to, entry.reclaimed]),
      [[ids[0], "0", true], [ids[1], "1", true], [ids[2], "2", true]],
    );
    for (const entry of reclaimed) assert.equal(await alive.complete(entry.id, "uncertain"), true);
    // The "dead" worker waking up late cannot overwrite what was decided.
    assert.equal(await dead.complete(ids[0]!, "accepted"), false);
    assert.equal(await alive.outcome(ids[0]!), "uncertain");
    assert.deepEqual(await alive.counts(), { enqueued: 8, pending: 0, completed: 8 });
    // Nothing left: not even reclaimed entries come back twice.
    assert.deepEqual(await alive.claim("alive", 10), []);
  },
);

redisTest("RedisWorkQueue.claim() with blockMs waits for items enqueued meanwhile", async () => {
  await using server = await startRedisServer();
  await using worker = new RedisWorkQueue<Job>({ redis: server.url, key: "run" });
  await using producer = new RedisWorkQueue<Job>({ redis: server.url, key: "run" });
  await worker.counts(); // connect and create the group before the clock starts
  const start = performance.now();
  // A block far longer than the 100 ms until the item comes: ending well before it shows
  // the item ended it, with seconds of room for a stalled machine.
  const claiming = worker.claim("w", 5, { blockMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await producer.enqueue([{ to: "1" }]);
  const entries = await claiming;
  const tookMs = performance.now() - start;
  assert.deepEqual(entries.map((entry) => entry.item), [{ to: "1" }]);
  assert.ok(tookMs >= 95 && tookMs < 5_000, `claim took ${tookMs} ms`);

  // Nothing comes: it gives up after blockMs, with nothing.
  const emptyStart = performance.now();
  assert.deepEqual(await worker.claim("w", 5, { blockMs: 300 }), []);
  const waitedMs = performance.now() - emptyStart;
  assert.ok(waitedMs >= 290 && waitedMs < 5_000, `empty claim waited ${waitedMs} ms`);
});

redisTest("RedisWorkQueue.claim() stops a blocking wait when its signal aborts", async () => {
  await using server = await startRedisServer();
  await using worker = new RedisWorkQueue<Job>({ redis: server.url, key: "run" });
  const controller = new AbortController();
  const start = performance.now();
  const claiming = worker.claim("w", 1, { blockMs: 10_000, signal: controller.signal });
  setTimeout(() => controller.abort(new Error("shutting down")), 50);
  await assert.rejects(claiming, new Error("shutting down"));
  // Long before the 10 s block would end; seconds of room for a stalled machine.
  assert.ok(performance.now() - start < 5_000);
});

redisTest("RedisWorkQueue.enqueue() takes an async iterable and keeps the order", async () => {
  await using server = await startRedisServer();
  await using admin = await connectRedis(server.url);
  await using queue = new RedisWorkQueue<Job>({ redis: admin, key: "run" });
  async function* recipients(): AsyncGenerator<Job> {
    for (let i = 0; i < 2500; i++) yield { to: String(i) };
  }
  const ids = await queue.enqueue(recipients());
  assert.equal(ids.length, 2500);
  const entries = await queue.claim("w", 2500);
  assert.deepEqual(entries.map((entry) => entry.id), ids);
  assert.deepEqual(entries.slice(0, 3).map((entry) => entry.item.to), ["0", "1", "2"]);
});

redisTest(
  "RedisWorkQueue and RedisLimiter work through a caller's node-redis client speaking RESP3",
  async () => {
    await using server = await startRedisServer();
    const client = createClient({ url: server.url }); // node-redis 6 defaults to RESP3
    await client.connect();
    try {
      const queue = new RedisWorkQueue<Job, string>({
        redis: client,
        key: "run",
        reclaimIdleMs: 0,
      });
      const [id] = await queue.enqueue([{ to: "1" }]);
      const [entry] = await queue.claim("w", 5, { blockMs: 10 });
      assert.deepEqual(entry, { id, item: { to: "1" }, reclaimed: false });
      const [again] = await queue.claim("other", 5);
      assert.deepEqual(again, { id, item: { to: "1" }, reclaimed: true });
      assert.equal(await queue.complete(id!, "uncertain"), true);
      assert.deepEqual(await queue.counts(), { enqueued: 1, pending: 0, completed: 1 });
      await queue.close(); // leaves the caller's client open

      const limiter = new RedisLimiter({ redis: client, key: "budget", ratePerSecond: 2 });
      const start = performance.now();
      assert.equal((await limiter.reserve()).delayMs, 0);
      const second = await limiter.reserve();
      // 500 ms after the first, less the (real) time since.
      const sinceMs = performance.now() - start;
      assert.ok(second.granted && second.delayMs >= 500 - sinceMs - 1 && second.delayMs <= 500);
      assert.equal(await client.sendCommand(["PING"]), "PONG");
    } finally {
      await client.close();
    }
  },
);

redisTest(
  "RedisWorkQueue.load() from three workers at once adds each item once; a rerun adds only what is missing",
  async () => {
    await using server = await startRedisServer();
    const jobs = Array.from({ length: 3000 }, (_, i) => ({ to: String(i) }));
    const loaders = [0, 1, 2].map(() => new RedisWorkQueue<Job>({ redis: server.url, key: "run" }));
    try {
      await Promise.all(loaders.map((queue) => queue.counts())); // connected, so they really race
      const added = await Promise.all(loaders.map((queue) => queue.load(jobs.slice(0, 2000))));
      assert.equal(added.reduce((a, b) => a + b, 0), 2000);
      const queue = loaders[0]!;
      assert.equal(await queue.load(jobs.slice(0, 2000)), 0); // a restart: nothing new
      assert.equal(await queue.load(jobs), 1000); // the rest of a longer input
      const entries = await queue.claim("w", 5000);
      assert.deepEqual(entries.map((entry) => entry.item.to), jobs.map((job) => job.to));
      assert.deepEqual(entries.slice(0, 2).map((entry) => entry.id), ["1-0", "2-0"]);
    } finally {
      await Promise.all(loaders.map((queue) => queue.close()));
    }
  },
);
