import assert from "node:assert/strict";
import { RedisLimiter } from "../lib/redis/redis_limiter.ts";
import { connectRedis, type RedisConnection } from "../lib/redis/connect.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";
import { busiestSecond } from "./support/windows.ts";

/** A FakeClock that remembers every sleep it was asked for. */
class RecordingClock extends FakeClock {
  sleeps: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms, signal);
  }
}

/** Wait (in real time) until `clock` has `count` sleepers: a take has its answer from Redis. */
async function untilSleeping(clock: FakeClock, count = 1): Promise<void> {
  const deadline = Date.now() + 2000;
  while (clock.pendingSleepers < count) {
    if (Date.now() > deadline) throw new Error(`no ${count} sleepers after 2 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function getString(redis: RedisConnection, key: string): Promise<string | null> {
  const value = await redis.sendCommand(["GET", key]);
  assert.ok(value === null || typeof value === "string");
  return value;
}

async function redisNowUs(redis: RedisConnection): Promise<bigint> {
  const [seconds, micros] = await redis.sendCommand(["TIME"]) as [string, string];
  return BigInt(seconds) * 1_000_000n + BigInt(micros);
}

Deno.test("new RedisLimiter() rejects a bad rate, burst, maxWaitMs or key", () => {
  const redis = { sendCommand: () => Promise.resolve(null) };
  assert.throws(
    () => new RedisLimiter({ redis, key: "k", ratePerSecond: -1 }),
    new RangeError(
      "Cannot create RedisLimiter: 'ratePerSecond' must be a number from 0.000001 to 1000000, current value is -1",
    ),
  );
  assert.throws(
    () => new RedisLimiter({ redis, key: "k", ratePerSecond: 1, burst: 0.5 }),
    RangeError,
  );
  assert.throws(
    () => new RedisLimiter({ redis, key: "k", ratePerSecond: 1, maxWaitMs: NaN }),
    RangeError,
  );
  assert.throws(() => new RedisLimiter({ redis, key: "", ratePerSecond: 1 }), TypeError);
});

Deno.test("RedisLimiter.take() rejects n above the burst before asking Redis", async () => {
  let asked = 0;
  const redis = { sendCommand: () => (asked++, Promise.resolve(null)) };
  const limiter = new RedisLimiter({ redis, key: "k", ratePerSecond: 1, burst: 2 });
  await assert.rejects(limiter.take(3), RangeError);
  await assert.rejects(limiter.take(0), RangeError);
  assert.equal(asked, 0);
});

redisTest("connectRedis() rejects at once, naming the URL, when nothing listens", async () => {
  await using server = await startRedisServer();
  const url = server.url;
  await server.stop();
  await assert.rejects(connectRedis(url), (error: Error) => {
    assert.match(error.message, new RegExp(`^Cannot connect to Redis at ${url}`));
    return true;
  });
});

redisTest(
  "RedisLimiter: three workers sharing 50/s reserve 150 slots, no more than rate + burst in any second",
  async () => {
    await using server = await startRedisServer();
    await using admin = await connectRedis(server.url);
    // Three limiters with their own connections, as three worker processes would have.
    const workers = [0, 1, 2].map(() =>
      new RedisLimiter({ redis: server.url, key: "budget", ratePerSecond: 50 })
    );
    try {
      // Connect first (a reservation each), then start from a full bucket.
      await Promise.all(workers.map((worker) => worker.reserve()));
      await admin.sendCommand(["DEL", "budget"]);
      // The slot each reservation was given: when its answer was handled plus the wait
      // Redis computed. (Wake-up times would add timer lateness, not the limiter's doing;
      // take() sleeping its wait is checked with a FakeClock above and below.)
      const slots: number[] = [];
      const counts = [0, 0, 0];
      await Promise.all(
        workers.flatMap((worker, index) =>
          Array.from({ length: 50 }, async () => {
            const reservation = await worker.reserve();
            assert.ok(reservation.granted);
            slots.push(performance.now() + reservation.delayMs);
            counts[index]!++;
          })
        ),
      );
      assert.deepEqual(counts, [50, 50, 50]);
      // An answer handled a few ms late shifts its slot by as much: one slot of such noise.
      assert.ok(busiestSecond(slots) <= 50 + 1 + 1, `busiest second had ${busiestSecond(slots)}`);
      // (150 − 1)/50 s at the least. At the most: a stalled answer shifts its slot by the
      // stall (slots are Redis' arithmetic, not chained). How close to ideal a run of
      // sleeping takes gets: `deno task bench:redis-pacing`.
      const spanMs = Math.max(...slots) - Math.min(...slots);
      const idealMs = (150 - 1) / 50 * 1000;
      assert.ok(
        spanMs >= idealMs - 20 && spanMs <= idealMs + 3_000,
        `150 slots spanned ${spanMs.toFixed(0)} ms, ideal ${idealMs} ms`,
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
    }
  },
);

redisTest("RedisLimiter honours the burst: 5 go at once, the 6th waits one interval", async () => {
  await using server = await startRedisServer();
  const clock = new RecordingClock();
  await using limiter = new RedisLimiter({
    redis: server.url,
    key: "budget",
    ratePerSecond: 10,
    burst: 5,
    clock,
  });
  const start = performance.now();
  for (let i = 0; i < 5; i++) await limiter.take();
  assert.deepEqual(clock.sleeps, []);
  const sixth = limiter.take();
  await untilSleeping(clock);
  // 100 ms after the first grant, less the (real) time the five and the sixth's ask took.
  const tookMs = performance.now() - start;
  assert.ok(
    clock.sleeps[0]! >= 100 - tookMs - 1 && clock.sleeps[0]! <= 100,
    `slept ${clock.sleeps[0]} ms after ${tookMs} ms`,
  );
  await clock.advance(100);
  await sixth;
  assert.equal(clock.sleeps.length, 1);
});

redisTest(
  "RedisLimiter: a reservation past maxWaitMs changes nothing, and take() asks again after the overflow",
  async () => {
    await using server = await startRedisServer();
    await using admin = await connectRedis(server.url);
    const clock = new RecordingClock();
    await using limiter = new RedisLimiter({
      redis: server.url,
      key: "budget",
      ratePerSecond: 1,
      maxWaitMs: 300,
      clock,
    });
    const start = performance.now();
    assert.equal((await limiter.reserve()).granted, true);
    const tat = await getString(admin, "budget");
    const refused = await limiter.reserve();
    assert.equal(refused.granted, false);
    // 1000 ms after the first, less the (real) time since.
    const sinceMs = performance.now() - start;
    assert.ok(
      refused.delayMs >= 1000 - sinceMs - 1 && refused.delayMs <= 1000,
      `would wait ${refused.delayMs} ms after ${sinceMs} ms`,
    );
    assert.equal(await refused.cancel(), false);
    assert.equal(await getString(admin, "budget"), tat);

    const controller = new AbortController();
    const taking = limiter.take(1, { signal: controller.signal });
    await untilSleeping(clock);
    // Sleeps until the wait would fit in maxWaitMs: 1000 − 300 ms, less the time since.
    const waitedMs = performance.now() - start;
    assert.ok(
      clock.sleeps[0]! >= 700 - waitedMs - 1 && clock.sleeps[0]! <= 700,
      `slept ${clock.sleeps[0]} ms after ${waitedMs} ms`,
    );
    controller.abort(new Error("stop"));
    await assert.rejects(taking, new Error("stop"));
    assert.equal(await getString(admin, "budget"), tat);
  },
);

redisTest(
  "RedisLimiter.pause() on one worker makes every worker wait, then resume at the rate",
  async () => {
    await using server = await startRedisServer();
    const options = { redis: server.url, key: "budget", ratePerSecond: 10, burst: 3 };
    await using a = new RedisLimiter(options);
    await using b = new RedisLimiter(options);
    await using c = new RedisLimiter(options);
    await Promise.all([a.reserve(), b.reserve(), c.reserve()]); // connect; 3 of the burst
    await a.pause(300);
    const start = performance.now();
    const times = await Promise.all(
      [b, c, b].map((limiter) => limiter.take().then(() => performance.now() - start)),
    );
    const sorted = times.sort((x, y) => x - y);
    // The pause, then one token at a time at 10/s (no burst of 3 after it). The lower
    // bounds are the rule; the upper ones only catch a pause that lasts seconds, with
    // room for a stalled machine (see support/windows.ts).
    assert.ok(sorted[0]! >= 295 && sorted[0]! < 3_000, `first grant at ${sorted[0]} ms`);
    assert.ok(sorted[1]! >= 395, `second grant at ${sorted[1]} ms`);
    assert.ok(sorted[2]! >= 495 && sorted[2]! < 3_500, `third grant at ${sorted[2]} ms`);
  },
);

redisTest(
  "RedisLimiter: a worker already waiting when another pauses queues again behind the pause",
  async () => {
    await using server = await startRedisServer();
    await using admin = await connectRedis(server.url);
    const options = { key: "budget", ratePerSecond: 5 };
    await using a = new RedisLimiter({ ...options, redis: admin });
    await using b = new RedisLimiter({ ...options, redis: admin });
    const start = performance.now();
    await a.take(); // at once: the bucket is full
    const waiting = a.take().then(() => performance.now() - start); // due at 200 ms
    await new Promise((resolve) => setTimeout(resolve, 50));
    await b.pause(600); // from ~50 ms to ~650 ms
    const grantedMs = await waiting;
    // Its slot fell inside the pause: it woke, saw the pause and went after it, not into it.
    // (The upper bound only catches a wait of seconds; room for a stalled machine.)
    assert.ok(grantedMs >= 645 && grantedMs < 3_500, `the waiting take went at ${grantedMs} ms`);
  },
);

redisTest(
  "RedisLimiter: an aborted take gives its slot back, and the next take gets it",
  async () => {
    await using server = await startRedisServer();
    await using admin = await connectRedis(server.url);
    const clock = new RecordingClock();
    await using limiter = new RedisLimiter({
      redis: server.url,
      key: "budget",
      ratePerSecond: 1,
      clock,
    });
    const start = performance.now();
    await limiter.take();
    const tat = await getString(admin, "budget");
    const controller = new AbortController();
    const aborted = limiter.take(1, { signal: controller.signal });
    await untilSleeping(clock);
    assert.notEqual(await getString(admin, "budget"), tat);
    controller.abort(new Error("user pressed ctrl-c"));
    await assert.rejects(aborted, new Error("user pressed ctrl-c"));
    assert.equal(await getString(admin, "budget"), tat);

    const next = await limiter.reserve();
    const sinceMs = performance.now() - start;
    assert.ok(
      next.delayMs >= 1000 - sinceMs - 1 && next.delayMs <= 1000,
      `next waits ${next.delayMs} ms after ${sinceMs} ms`,
    );
    assert.equal(await next.cancel(), true);
  },
);

redisTest("RedisLimiter: a cancel gives nothing back once someone reserved after it", async () => {
  await using server = await startRedisServer();
  await using admin = await connectRedis(server.url);
  await using limiter = new RedisLimiter({ redis: server.url, key: "budget", ratePerSecond: 1 });
  await limiter.reserve();
  const second = await limiter.reserve();
  const third = await limiter.reserve();
  const tat = await getString(admin, "budget");
  assert.equal(await second.cancel(), false);
  assert.equal(await getString(admin, "budget"), tat);
  assert.equal(await third.cancel(), true);
  assert.equal(await second.cancel(), false); // the answer is remembered, not asked again
});

redisTest(
  "RedisLimiter keeps every digit of a TAT past 2^50 µs through reserve and cancel",
  async () => {
    await using server = await startRedisServer();
    await using admin = await connectRedis(server.url);
    // Redis' clock itself is ~2^50.7 µs since 1970; put the TAT an hour ahead, odd digits.
    const start = performance.now();
    const tat = (await redisNowUs(admin)) + 3_600_000_000n + 123_457n;
    assert.ok(tat > 2n ** 50n);
    await admin.sendCommand(["SET", "budget", String(tat)]);
    await using limiter = new RedisLimiter({
      redis: server.url,
      key: "budget",
      ratePerSecond: 7, // T = 142,858 µs (rounded up)
      maxWaitMs: 7_200_000,
    });
    const reservation = await limiter.reserve();
    assert.equal(reservation.granted, true);
    assert.equal(await getString(admin, "budget"), String(tat + 142_858n));
    const ttlMs = await admin.sendCommand(["PTTL", "budget"]) as number;
    assert.ok(ttlMs > 3_600_000 && ttlMs < 3_602_000, `TTL ${ttlMs} ms`);
    // The TAT less Redis' clock at the reservation: the time since TIME was read.
    const sinceMs = performance.now() - start;
    assert.ok(
      reservation.delayMs >= 3_600_123.457 - sinceMs - 1 && reservation.delayMs <= 3_600_124,
      `delay ${reservation.delayMs} after ${sinceMs} ms`,
    );
    assert.equal(await reservation.cancel(), true);
    assert.equal(await getString(admin, "budget"), String(tat));

    // Far beyond maxWaitMs: refused, and the stored value is untouched to the last digit.
    await admin.sendCommand(["SET", "budget", "4503599627370497"]); // 2^52 + 1
    assert.equal((await limiter.reserve()).granted, false);
    assert.equal(await getString(admin, "budget"), "4503599627370497");
  },
);

redisTest("RedisLimiter falls back to EVAL when Redis has forgotten the script", async () => {
  await using server = await startRedisServer();
  await using admin = await connectRedis(server.url);
  await using limiter = new RedisLimiter({ redis: admin, key: "budget", ratePerSecond: 1 });
  const start = performance.now();
  assert.equal((await limiter.reserve()).delayMs, 0);
  await admin.sendCommand(["SCRIPT", "FLUSH"]);
  const second = await limiter.reserve();
  assert.ok(second.granted && second.delayMs >= 1000 - (performance.now() - start) - 1);
});

redisTest("RedisLimiter: two OS processes sharing 100/s never exceed it together", async () => {
  await using server = await startRedisServer();
  const modUrl = new URL("../lib/redis/mod.ts", import.meta.url).href;
  const worker = `
    import { RedisLimiter } from ${JSON.stringify(modUrl)};
    const limiter = new RedisLimiter({ redis: ${
    JSON.stringify(server.url)
  }, key: "budget", ratePerSecond: 100 });
    await limiter.reserve().then((r) => r.cancel()); // connect before the clock starts
    // The slot each reservation was given, on this machine's clock: when its
    // reply arrived plus the wait Redis computed. (Wake-up times would add the
    // timer lateness of two busy processes, which is not the limiter's doing.)
    const times = await Promise.all(Array.from({ length: 100 }, async () => {
      const reservation = await limiter.reserve();
      return Date.now() + reservation.delayMs;
    }));
    await limiter.close();
    console.log(JSON.stringify(times));
  `;
  const run = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", worker],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  const outputs = await Promise.all([run(), run()]);
  const grants: number[] = [];
  for (const output of outputs) {
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    grants.push(...JSON.parse(new TextDecoder().decode(output.stdout)) as number[]);
  }
  assert.equal(grants.length, 200);
  // A reply handled a few ms late shifts its slot by as much: allow two slots of
  // such noise. Two budgets instead of one shared would show about 200.
  assert.ok(busiestSecond(grants) <= 100 + 1 + 2, `busiest second had ${busiestSecond(grants)}`);
  const spanMs = Math.max(...grants) - Math.min(...grants);
  assert.ok(spanMs >= (200 - 1) * 10 - 20, `200 grants in ${spanMs} ms`);
});
