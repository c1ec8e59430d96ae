/**
 * The send job's workers: each reads the next recipient from one shared source
 * and handles it, until the source ends. A worker never rejects: an error stops
 * admission (through `fail`) and the pool still waits for every worker, so no
 * request is in flight when the caller hears of it.
 *
 * @module
 */

/** Options for {@linkcode runWorkerPool}. */
export interface WorkerPoolOptions<T> {
  /** How many workers. */
  workers: number;
  /** Handles one item; an error is passed to `fail`, and the worker goes on. */
  handle: (item: T) => Promise<void>;
  /** Told of every error: from the source (the worker then ends) or from `handle`. */
  fail: (error: unknown) => void;
  /** Workers other than the first wait for this before their first read. */
  firstAnswer: Promise<void>;
  /** Called when the first worker ends, whatever happened: nobody waits on it any more. */
  onFirstDone: () => void;
}

/**
 * Run `workers` workers over `source` until it ends.
 *
 * @example Two workers over a list
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
  const worker = async (index: number): Promise<void> => {
    if (index > 0) await firstAnswer;
    try {
      for (;;) {
        let item: T;
        try {
          const next = await iterator.next();
          if (next.done) return;
          item = next.value;
        } catch (error) {
          // The input broke (a read error): nothing more can be admitted.
          fail(error);
          return;
        }
        try {
          await handle(item);
        } catch (error) {
          fail(error);
        }
      }
    } finally {
      if (index === 0) onFirstDone();
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
}
