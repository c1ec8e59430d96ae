/**
 * The peer libraries the benchmarks measure politely against, pinned in this one place: `limiter`,
 * the AWS SDK's adaptive `DefaultRateLimiter` (`@smithy/util-retry`), `bottleneck`, `p-retry`
 * and `p-throttle`.
 *
 * @module
 */
export { RateLimiter, TokenBucket as LimiterTokenBucket } from "npm:limiter@4.1.0";
export { DefaultRateLimiter } from "../lib/deps/smithy_util_retry.ts";
export { default as Bottleneck } from "npm:bottleneck@2.19.5";
export { default as pRetry } from "npm:p-retry@9.0.0";
export { default as pThrottle } from "npm:p-throttle@8.1.1";
