/**
 * politely: call rate-limited HTTP APIs as fast as they allow and never faster.
 *
 * Pace requests before they hit the limit ({@linkcode TokenBucket}), and when a
 * server still says "slow down", back off with jitter ({@linkcode retry}),
 * honouring what the server says ({@linkcode politeFetch}).
 *
 * The root holds the generic core. The rest has its own entry point:
 * `./vonage` (the Vonage Messages API client), `./send` (the bulk-send
 * campaign: recipients, journal, send job, progress), `./redis` (a budget and a
 * work queue shared through Redis) and `./mock` (a local mock of the Messages
 * API with a real rate limit).
 *
 * @example A paced fetch that honours Retry-After
 * ```ts
 * import { politeFetch, TokenBucket } from "./mod.ts";
 *
 * const limiter = new TokenBucket({ ratePerSecond: 5 });
 * const send = (url: string) => politeFetch(url, { limiter });
 * console.log(typeof send); // "function"
 * ```
 *
 * @module
 */

export * from "./lib/core/mod.ts";
