/**
 * Re-spacing a send job's departures at its limiter's own pace.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Limiter } from "../core/limiter.ts";
import { TokenBucket } from "../core/token_bucket.ts";

/**
 * Spaces requests right before they leave at the limiter's rate and burst, read
 * again before every request, so that they follow a rate the limiter learns:
 * the rate has one source of truth. The limiter grants tokens at the right
 * pace, but the durable `sending` write (an fsync) and `beforeSend` come
 * between the grant and the request; a slow disk or server would hold
 * requests back and then let them leave together. In steady state it never
 * waits. A limiter that does not pace (`ratePerSecond` of `Infinity`) is not
 * re-spaced.
 *
 * @example Re-spacing at a TokenBucket's pace
 * ```ts
 * import { DeparturePacer } from "./departure_pacer.ts";
 * import { TokenBucket } from "../core/token_bucket.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 *
 * const clock = new FakeClock();
 * const pacer = new DeparturePacer(new TokenBucket({ ratePerSecond: 50, clock }), clock);
 * await pacer.take(new AbortController().signal); // the first goes at once
 * ```
 */
export class DeparturePacer {
  readonly #limiter: Limiter;
  readonly #clock: Clock;
  #bucket: TokenBucket | undefined;

  /** Pace departures at `limiter`'s rate, on `clock`. */
  constructor(limiter: Limiter, clock: Clock) {
    this.#limiter = limiter;
    this.#clock = clock;
  }

  /** Wait until the next request may leave; rejects with `signal.reason` if it aborts. */
  take(signal: AbortSignal): Promise<void> {
    const { ratePerSecond, burst } = this.#limiter;
    if (!(ratePerSecond > 0 && ratePerSecond < Infinity)) return Promise.resolve();
    const size = Math.max(1, Math.min(burst, Number.MAX_SAFE_INTEGER));
    if (this.#bucket === undefined) {
      this.#bucket = new TokenBucket({ ratePerSecond, burst: size, clock: this.#clock });
    } else if (this.#bucket.ratePerSecond !== ratePerSecond || this.#bucket.burst !== size) {
      this.#bucket.setRate(ratePerSecond, size);
    }
    return this.#bucket.take(1, { signal });
  }
}
