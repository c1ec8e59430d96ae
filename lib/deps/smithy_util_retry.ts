/**
 * `@smithy/util-retry` (the AWS SDK's adaptive retry mode: `DefaultRateLimiter`, a CUBIC
 * learner), pinned in this one place. Only the simulations use it, to draw the AWS learner
 * next to ours with its own code.
 *
 * @module
 */
export { DefaultRateLimiter } from "npm:@smithy/util-retry@4.6.2";
