/**
 * A virtual clock for deterministic tests and simulations.
 *
 * Time stands still until you call {@linkcode FakeClock.advance}; then every
 * sleeper that falls due wakes in time order (ties in the order they started
 * sleeping), and the code waiting on it runs before the next one wakes, with
 * {@linkcode FakeClock.now} reading exactly the sleeper's due time. No real
 * timers are used, so a test that simulates an hour takes milliseconds.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Clock } from "./clock.ts";

interface Sleeper {
  dueMs: number;
  seq: number;
  resolve: () => void;
  detach: () => void;
}

/** Let every pending promise continuation run (one macrotask turn, unclamped). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A {@linkcode Clock} whose time moves only when told to.
 *
 * @example Testing code that sleeps, in virtual time
 * ```ts
 * import { FakeClock } from "./fake_clock.ts";
 *
 * const clock = new FakeClock();
 * let woke = -1;
 * const task = clock.sleep(5_000).then(() => { woke = clock.now(); });
 * await clock.advance(5_000);
 * await task;
 * console.log(woke); // 5000
 * ```
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #seq = 0;
  // A binary min-heap ordered by (dueMs, seq): 100,000 sleepers stay cheap.
  #heap: Sleeper[] = [];

  /** Start the virtual clock at `startMs` (default 0). */
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  /** The current virtual time in milliseconds. */
  now(): number {
    return this.#nowMs;
  }

  /** How many sleepers are waiting to be woken. */
  get pendingSleepers(): number {
    return this.#heap.length;
  }

  /** The due time of the next sleeper, or `undefined` when nobody sleeps. */
  get nextDueMs(): number | undefined {
    return this.#heap[0]?.dueMs;
  }

  /**
   * Resolve once virtual time reaches now + `ms`. A non-positive `ms` still
   * waits for the next {@linkcode FakeClock.advance} (of any length, even 0),
   * which keeps ordering deterministic. An aborted `signal` rejects with
   * `signal.reason` at once.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = {
        dueMs: this.#nowMs + (ms > 0 ? ms : 0),
        seq: this.#seq++,
        resolve,
        detach: () => {},
      };
      if (signal) {
        const onAbort = () => {
          this.#remove(sleeper);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        sleeper.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.#push(sleeper);
    });
  }

  /**
   * Move time forward by `ms`, waking every sleeper due by then in order and
   * letting its continuation run before waking the next. Sleepers started by
   * those continuations wake too if they fall due within the window. Ends with
   * {@linkcode FakeClock.now} at exactly the old time + `ms`.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) {
      throw new RangeError(
        `Cannot advance FakeClock: 'ms' must be a non-negative number, current value is ${ms}`,
      );
    }
    await this.#runUntil(this.#nowMs + ms);
  }

  /**
   * Move time forward to `timeMs` (see {@linkcode FakeClock.advance}).
   */
  async advanceTo(timeMs: number): Promise<void> {
    await this.advance(Math.max(0, timeMs - this.#nowMs));
  }

  /**
   * Keep advancing to the next due sleeper until nobody sleeps. Throws a
   * `RangeError` after `maxSteps` wake-ups, which catches code that sleeps forever.
   * Returns the virtual time at which things went quiet.
   */
  async runAll(maxSteps = 10_000_000): Promise<number> {
    let steps = 0;
    await settle();
    while (this.#heap.length > 0) {
      const due = this.#heap[0]!.dueMs;
      steps += await this.#wakeDue(due);
      if (steps > maxSteps) {
        throw new RangeError(
          `FakeClock.runAll gave up after ${maxSteps} wake-ups: something keeps sleeping`,
        );
      }
      await settle();
    }
    return this.#nowMs;
  }

  async #runUntil(targetMs: number): Promise<void> {
    await settle();
    while (this.#heap.length > 0 && this.#heap[0]!.dueMs <= targetMs) {
      await this.#wakeDue(this.#heap[0]!.dueMs);
      await settle();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
    await settle();
  }

  /** Wake every sleeper due at exactly `dueMs` (in start order); return the count. */
  async #wakeDue(dueMs: number): Promise<number> {
    this.#nowMs = Math.max(this.#nowMs, dueMs);
    let woken = 0;
    while (this.#heap.length > 0 && this.#heap[0]!.dueMs <= dueMs) {
      const sleeper = this.#pop()!;
      sleeper.detach();
      sleeper.resolve();
      woken++;
    }
    await Promise.resolve();
    return woken;
  }

  #less(a: Sleeper, b: Sleeper): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
  }

  #push(sleeper: Sleeper): void {
    const heap = this.#heap;
    heap.push(sleeper);
    this.#siftUp(heap.length - 1);
  }

  #pop(): Sleeper | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  #remove(sleeper: Sleeper): void {
    const heap = this.#heap;
    const index = heap.indexOf(sleeper);
    if (index < 0) return;
    const last = heap.pop()!;
    if (index < heap.length) {
      heap[index] = last;
      this.#siftDown(index);
      this.#siftUp(index);
    }
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}
