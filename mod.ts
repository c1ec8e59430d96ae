/**
 * politely: call rate-limited HTTP APIs as fast as they allow and never faster.
 *
 * Pace requests before they hit the limit ({@linkcode TokenBucket}), and when a
 * server still says "slow down", back off with jitter ({@linkcode retry}),
 * honouring what the server says.
 *
 * @module
 */

export { type Clock, realClock } from "./lib/clock.ts";
export { FakeClock } from "./lib/fake_clock.ts";
export type { Limiter, LimiterOutcome, TakeOptions } from "./lib/limiter.ts";
