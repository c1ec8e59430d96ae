/**
 * The core of politely: time as a dependency, pacing, backoff, retry, the
 * server's rate-limit headers and a polite `fetch`. Nothing here knows about
 * SMS, journals or Redis; every layer above builds on these.
 *
 * @example Pace, then retry with jitter
 * ```ts
 * import { retry, TokenBucket } from "./mod.ts";
 *
 * const limiter = new TokenBucket({ ratePerSecond: 5 });
 * const answer = await retry(async () => {
 *   await limiter.take();
 *   return "done";
 * }, { maxAttempts: 3 });
 * console.log(answer); // "done"
 * ```
 *
 * @module
 */

export { type Clock, realClock } from "./clock.ts";
export { FakeClock } from "./fake_clock.ts";
export type { Limiter, LimiterOutcome, ObserveDetail, TakeOptions } from "./limiter.ts";
export { type Reservation, TokenBucket, type TokenBucketOptions } from "./token_bucket.ts";
export { LearningLimiter, type LearningLimiterOptions } from "./learning_limiter.ts";
export { LimitLearner, type LimitLearnerOptions, type LimitLearnerState } from "./limit_learner.ts";
export {
  applyJitter,
  type Backoff,
  BACKOFF_STRATEGIES,
  type BackoffOptions,
  type BackoffStrategy,
  baseDelayMs,
  type BaseDelayOptions,
  createBackoff,
  decorrelatedDelayMs,
  type DecorrelatedOptions,
  type Jitter,
  JITTERS,
} from "./backoff.ts";
export {
  retry,
  type RetryAttemptContext,
  type RetryDecisionContext,
  RetryError,
  type RetryErrorInit,
  type RetryGiveUpReason,
  type RetryHookContext,
  type RetryOptions,
} from "./retry.ts";
export {
  parseRateLimit,
  parseRetryAfter,
  type RateLimitInfo,
  serverDelayMs,
  statedLimitPerSecond,
} from "./rate_limit_headers.ts";
export {
  defaultClassify,
  failedBeforeSending,
  politeFetch,
  type PoliteFetchInit,
  type PoliteFetchOptions,
  type PoliteRetryOptions,
  type ResponseVerdict,
} from "./polite_fetch.ts";
