/**
 * The send job's workers: one loop reads the next recipient when a slot is free
 * and starts its handling, up to `workers` at once. The cost per recipient is
 * the same at any `workers` (no task exists for an idle slot), and no more tasks
 * run than recipients were read. A handler never rejects into the pool: an error
 * stops admission (through `fail`) and the pool still waits for every handler,
 * so no request is in flight when the caller hears of it.
 *
 * @module
 */

/** Options for {@linkcode runWorkerPool}. */
export interface WorkerPoolOptions<T> {
  /** The most items handled at once (`Infinity`: as many as the source gives). */
  workers: number;
  /** Handles one item; an error is passed to `fail`, and the pool goes on. */
  handle: (item: T) => Promise<void>;
  /** Told of every error: from the source (reading then ends) or from `handle`. */
  fail: (error: unknown) => void;
  /** Until this settles, one item is handled at a time. */
  firstAnswer: Promise<void>;
  /** Called once reading ends, whatever happened: nobody waits on the gate any more. */
  onFirstDone: () => void;
}

/**
 * Handle the items of `source` with up to `workers` at once, until it ends;
 * resolves when every handler has finished.
 *
 * @example Two at a time over a list
 * ```ts
 * import { runWorkerPool } from "./worker_pool.ts";
 *
 * const seen: number[] = [];
 * await runWorkerPool([1, 2, 3], {
 *   workers: 2,
 *   handle: async (n) => void seen.push(n),
 *   fail: (error) => console.error(error),
 *   firstAnswer: Promise.resolve(),
 *   onFirstDone: () => {},
 * });
 * console.log(seen.sort()); // [1, 2, 3]
 * ```
 */
export async function runWorkerPool<T>(
  source: AsyncIterable<T> | Iterable<T>,
  options: WorkerPoolOptions<T>,
): Promise<void> {
  const { workers, handle, fail, firstAnswer, onFirstDone } = options;
  const iterator =
    (Symbol.asyncIterator in source
      ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (source as Iterable<T>)[Symbol.iterator]()) as AsyncIterator<T> | Iterator<T>;
  let running = 0;
  let gateOpen = false;
  // The reader is the only one who waits: one slot for its wake-up, O(1) per item.
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const waitForChange = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
  firstAnswer.then(() => {
    gateOpen = true;
    notify();
  }, () => {});
  const finished = (): void => {
    running--;
    notify();
  };
  try {
    for (;;) {
      while (running >= (gateOpen ? workers : 1)) await waitForChange();
      let item: T;
      try {
        const next = await iterator.next();
        if (next.done) break;
        item = next.value;
      } catch (error) {
        // The input broke (a read error): nothing more can be admitted.
        fail(error);
        break;
      }
      running++;
      let handling: Promise<void>;
      try {
        handling = handle(item);
      } catch (error) {
        handling = Promise.reject(error);
      }
      handling.catch(fail).finally(finished);
    }
  } finally {
    onFirstDone();
  }
  while (running > 0) await waitForChange();
}
