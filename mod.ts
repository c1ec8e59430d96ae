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
export {
  applyJitter,
  BACKOFF_STRATEGIES,
  type Backoff,
  type BackoffOptions,
  type BackoffStrategy,
  baseDelayMs,
  type BaseDelayOptions,
  createBackoff,
  decorrelatedDelayMs,
  type DecorrelatedOptions,
  type Jitter,
  JITTERS,
} from "./lib/backoff.ts";
export {
  retry,
  type RetryAttemptContext,
  type RetryDecisionContext,
  RetryError,
  type RetryErrorInit,
  type RetryGiveUpReason,
  type RetryHookContext,
  type RetryOptions,
} from "./lib/retry.ts";
