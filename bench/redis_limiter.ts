/**
 * How many reservations per second the shared limiter's script sustains
 * against a private local redis-server, with 1 and 3 clients (connections),
 * awaited one by one and with 16 in flight per client.
 *
 *   deno run --allow-net=127.0.0.1 --allow-run --allow-env --allow-read bench/redis_limiter.ts
 *
 * The rate is set so high that nobody ever waits: this measures the
 * round trip plus the script, i.e. the limiter's own cost per request.
 */

import { RedisLimiter } from "../lib/redis/mod.ts";
import { redisInstalled, startRedisServer } from "../tests/support/redis_server.ts";

const OPS_PER_CASE = 20_000;

async function measure(clients: number, inFlight: number, url: string): Promise<number> {
  const limiters = Array.from(
    { length: clients },
    () => new RedisLimiter({ redis: url, key: "bench", ratePerSecond: 1e6, burst: 1e6 }),
  );
  try {
    await Promise.all(limiters.map((limiter) => limiter.reserve())); // connect
    const perLane = Math.ceil(OPS_PER_CASE / (clients * inFlight));
    const start = performance.now();
    await Promise.all(
      limiters.flatMap((limiter) =>
        Array.from({ length: inFlight }, async () => {
          for (let i = 0; i < perLane; i++) await limiter.take();
        })
      ),
    );
    return perLane * clients * inFlight / ((performance.now() - start) / 1000);
  } finally {
    await Promise.all(limiters.map((limiter) => limiter.close()));
  }
}

if (!redisInstalled) {
  console.error("redis-server is not installed: nothing to measure");
  Deno.exit(1);
}
await using server = await startRedisServer();
console.log("clients  in flight/client  take() per second");
for (const [clients, inFlight] of [[1, 1], [1, 16], [3, 1], [3, 16]] as const) {
  const perSecond = await measure(clients, inFlight, server.url);
  console.log(
    `${String(clients).padStart(7)}  ${String(inFlight).padStart(16)}  ${
      Math.round(perSecond).toLocaleString("en-US").padStart(17)
    }`,
  );
}
