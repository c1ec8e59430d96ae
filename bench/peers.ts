/**
 * The peer libraries the benchmarks measure politely against, pinned in this one place.
 *
 * @module
 */
export { RateLimiter, TokenBucket as LimiterTokenBucket } from "npm:limiter@4.1.0";
