/**
 * Answers the mock keeps back: a clock for the mock Vonage API (its `clock` option) on
 * which the answer delay (`latencyMs`) of every request from the `from`-th on lasts until
 * {@linkcode HeldAnswers.release}. So a test knows requests are in flight, and stay
 * there, when it signals the sender, without a timing race.
 *
 * @module
 */

import { type Clock, realClock } from "../../lib/core/clock.ts";

/** The mock's clock, and the answers it holds. `using` releases them. */
export class HeldAnswers implements Disposable {
  /** Give this to the mock as `clock`, with `latencyMs` above 0 (its sleep is the delay). */
  readonly clock: Clock;
  #sleeps = 0;
  #held = 0;
  #releasing = false;
  #release!: () => void;
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));

  /** Hold the answer of every request from the `from`-th (counting from 1) on. */
  constructor(from: number) {
    this.clock = {
      now: () => realClock.now(),
      sleep: (ms, signal) => {
        this.#sleeps++;
        if (this.#releasing || this.#sleeps < from) return realClock.sleep(ms, signal);
        this.#held++;
        return this.#released;
      },
    };
  }

  /** How many answers have been held so far (requests in flight until released). */
  get held(): number {
    return this.#held;
  }

  /** Let the held answers go, and hold no more. */
  release(): void {
    this.#releasing = true;
    this.#release();
  }

  /** {@linkcode HeldAnswers.release}: declare it after the mock, which waits for them to close. */
  [Symbol.dispose](): void {
    this.release();
  }
}
