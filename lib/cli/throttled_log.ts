/**
 * A log that says each kind of line once per interval, so a flood of the same refusal
 * (a misconfigured secret, or someone probing an exposed server) costs a few lines, not
 * one per request. No timer: the count of lines held back is written with the next line
 * of its kind after the interval, and by {@linkcode ThrottledLog.flush} at exit.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";

/**
 * Writes a line at once the first time, then holds back the same line for `intervalMs`.
 *
 * @example A burst of one refusal
 * ```ts
 * import { ThrottledLog } from "./throttled_log.ts";
 *
 * const lines: string[] = [];
 * const log = new ThrottledLog((line) => lines.push(line));
 * for (let i = 0; i < 100; i++) log.write("refused a webhook (401): the signature does not match");
 * log.flush();
 * console.log(lines.length); // 2: the first, then "… (99 more)"
 * ```
 */
export class ThrottledLog {
  readonly #output: (line: string) => void;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #held = new Map<string, { sinceMs: number; count: number }>();

  /** Write through `output`, each distinct line at most once per `intervalMs` (10 s). */
  constructor(
    output: (line: string) => void,
    { intervalMs = 10_000, clock = realClock }: { intervalMs?: number; clock?: Clock } = {},
  ) {
    this.#output = output;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Write `line`, or count it if the same line was written less than the interval ago. */
  write(line: string): void {
    const nowMs = this.#clock.now();
    const held = this.#held.get(line);
    if (held !== undefined && nowMs - held.sinceMs < this.#intervalMs) {
      held.count++;
      return;
    }
    const seconds = held === undefined ? 0 : Math.round((nowMs - held.sinceMs) / 1000);
    this.#output(
      held !== undefined && held.count > 0
        ? `${line} (${held.count + 1} times in the last ${seconds} s)`
        : line,
    );
    this.#held.set(line, { sinceMs: nowMs, count: 0 });
  }

  /** Write how many of each line were held back and not yet reported. */
  flush(): void {
    for (const [line, held] of this.#held) {
      if (held.count > 0) this.#output(`${line} (${held.count} more)`);
      held.count = 0;
    }
  }
}
