/**
 * 100,000 callers waiting at once on a 50,000/s bucket with the real clock:
 * how long the queue takes to drain against the ideal (N − burst) / rate, and
 * how much heap each waiter costs, for politely's TokenBucket and for
 * npm:limiter's TokenBucket.removeTokens.
 *
 * Run: `deno run --v8-flags=--expose-gc bench/waiters.ts` (about 12 s).
 *
 * limiter sleeps at least 1 ms between grants and then takes what has
 * accumulated, so with a burst of 1 it cannot exceed 1,000/s (100 s for this
 * queue); it is measured with a burst of 50, one millisecond's worth, and
 * politely with both.
 */

import { LimiterTokenBucket } from "./peers.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";

const WAITERS = 100_000;
const RATE_PER_SECOND = 50_000;

interface Contender {
  name: string;
  burst: number;
  /**
   * Make a fresh bucket; return a function that starts one waiter on it, and
   * optionally one that lets the rest through fast once the measuring is done.
   */
  prepare(): { start: () => Promise<unknown>; hurry?: () => void };
}

const contenders: Contender[] = [
  {
    name: "politely TokenBucket.take()",
    burst: 1,
    prepare() {
      const bucket = new TokenBucket({ ratePerSecond: RATE_PER_SECOND, burst: 1 });
      return { start: () => bucket.take() };
    },
  },
  {
    name: "politely TokenBucket.take()",
    burst: 50,
    prepare() {
      const bucket = new TokenBucket({ ratePerSecond: RATE_PER_SECOND, burst: 50 });
      return { start: () => bucket.take() };
    },
  },
  {
    name: "limiter TokenBucket.removeTokens(1)",
    burst: 50,
    prepare() {
      const bucket = new LimiterTokenBucket({
        bucketSize: 50,
        tokensPerInterval: RATE_PER_SECOND,
        interval: "second",
      });
      bucket.content = 50; // start full, like ours
      return {
        start: () => bucket.removeTokens(1),
        // limiter re-reads its fields on every wake-up: make the rest go at once.
        hurry: () => {
          bucket.bucketSize = bucket.tokensPerInterval = 1e12;
        },
      };
    },
  },
];

const collectGarbage = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  collectGarbage?.();
  return Deno.memoryUsage().heapUsed;
}

/** Enqueue every waiter at once; return the wall time until the last is granted. */
async function drainMs(contender: Contender): Promise<number> {
  const { start } = contender.prepare();
  const waiting: Array<Promise<unknown>> = new Array(WAITERS);
  const startedMs = performance.now();
  for (let i = 0; i < WAITERS; i++) waiting[i] = start();
  await Promise.all(waiting);
  return performance.now() - startedMs;
}

/** Heap growth per waiter while all of them wait (garbage collected before and after). */
async function bytesPerWaiter(contender: Contender): Promise<number> {
  const { start, hurry } = contender.prepare();
  const waiting: Array<Promise<unknown>> = new Array(WAITERS);
  waiting.fill(Promise.resolve());
  const before = heapUsed();
  for (let i = 0; i < WAITERS; i++) waiting[i] = start();
  const after = heapUsed();
  hurry?.();
  await Promise.all(waiting);
  return (after - before) / WAITERS;
}

if (collectGarbage === undefined) {
  console.warn("run with --v8-flags=--expose-gc for steady memory figures");
}

const rows: Array<{ contender: Contender; idealMs: number; wallMs: number; bytes: number }> = [];
for (const contender of contenders) {
  const idealMs = (WAITERS - contender.burst) / RATE_PER_SECOND * 1000;
  const wallMs = await drainMs(contender);
  const bytes = await bytesPerWaiter(contender);
  rows.push({ contender, idealMs, wallMs, bytes });
}

console.log(
  `${WAITERS.toLocaleString("en")} waiters at once, ${
    RATE_PER_SECOND.toLocaleString("en")
  }/s, real clock\n`,
);
console.log("| limiter | burst | ideal | drained in | over ideal | heap per waiter |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const { contender, idealMs, wallMs, bytes } of rows) {
  const over = ((wallMs / idealMs - 1) * 100).toFixed(2);
  console.log(
    `| ${contender.name} | ${contender.burst} | ${(idealMs / 1000).toFixed(3)} s | ` +
      `${(wallMs / 1000).toFixed(3)} s | ${over}% | ${Math.round(bytes)} B |`,
  );
}
const ours = rows.find((r) => r.contender.name.startsWith("politely") && r.contender.burst === 50);
const theirs = rows.find((r) => r.contender.name.startsWith("limiter"));
if (ours && theirs) {
  console.log(
    `\nAt burst 50, politely drains ${(theirs.wallMs / ours.wallMs).toFixed(2)}x faster than ` +
      `limiter and holds ${(ours.bytes / theirs.bytes).toFixed(2)}x its heap per waiter ` +
      `(a timer per waiter, where limiter chains promises behind a single timer).`,
  );
}
