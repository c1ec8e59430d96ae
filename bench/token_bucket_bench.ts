/**
 * Micro-benchmarks of the hot paths against `npm:limiter` (its TokenBucket and
 * RateLimiter), with rates so high that a token is always there: this measures
 * the bookkeeping, not the waiting.
 *
 * Run: `deno bench bench/token_bucket_bench.ts`
 */

import { LimiterTokenBucket, RateLimiter } from "./peers.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";

const HUGE = 1e9;

function fullLimiterBucket(): LimiterTokenBucket {
  const bucket = new LimiterTokenBucket({
    bucketSize: HUGE,
    tokensPerInterval: HUGE,
    interval: "second",
  });
  bucket.content = HUGE; // limiter's TokenBucket starts empty; ours starts full
  return bucket;
}

function refused(): never {
  throw new Error("no token: the benchmark would measure waiting");
}

const oursForTry = new TokenBucket({ ratePerSecond: HUGE, burst: HUGE });
const theirsForTry = fullLimiterBucket();
const theirRateLimiterForTry = new RateLimiter({ tokensPerInterval: HUGE, interval: "second" });

Deno.bench({
  name: "limiter TokenBucket.tryRemoveTokens(1)",
  group: "tryTake",
  baseline: true,
  fn: () => {
    if (!theirsForTry.tryRemoveTokens(1)) refused();
  },
});

Deno.bench({
  name: "politely TokenBucket.tryTake()",
  group: "tryTake",
  fn: () => {
    if (!oursForTry.tryTake()) refused();
  },
});

Deno.bench({
  name: "limiter RateLimiter.tryRemoveTokens(1)",
  group: "tryTake",
  fn: () => {
    if (!theirRateLimiterForTry.tryRemoveTokens(1)) refused();
  },
});

const oursForTake = new TokenBucket({ ratePerSecond: HUGE, burst: HUGE });
const theirsForTake = fullLimiterBucket();
const theirRateLimiterForTake = new RateLimiter({ tokensPerInterval: HUGE, interval: "second" });

Deno.bench({
  name: "limiter TokenBucket.removeTokens(1)",
  group: "take when a token is free",
  baseline: true,
  fn: async () => {
    await theirsForTake.removeTokens(1);
  },
});

Deno.bench({
  name: "politely TokenBucket.take()",
  group: "take when a token is free",
  fn: async () => {
    await oursForTake.take();
  },
});

Deno.bench({
  name: "limiter RateLimiter.removeTokens(1)",
  group: "take when a token is free",
  fn: async () => {
    await theirRateLimiterForTake.removeTokens(1);
  },
});
