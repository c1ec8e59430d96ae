/**
 * Appending to a file durably with group commit: each append resolves once its text is
 * written and fsynced, and appends that arrive while one batch is on its way to disk share
 * the next fsync. The send journal and the receipts file both write this way.
 *
 * @module
 */

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A group-commit writer at the current position of an open file. Once a write fails the
 * end of the file is unknown: that append, every one waiting, and every later one reject
 * with the error `failure` made from the cause.
 *
 * @example Two appends sharing one fsync
 * ```ts
 * import { GroupCommit } from "./group_commit.ts";
 *
 * const path = await Deno.makeTempFile();
 * const file = await Deno.open(path, { write: true, append: true });
 * const writer = new GroupCommit(file, (cause) => new Error(`Cannot write ${path}`, { cause }));
 * await Promise.all([writer.append("a\n"), writer.append("b\n")]);
 * console.log(writer.commits, writer.bytes); // 1 4
 * await writer.settled();
 * file.close();
 * await Deno.remove(path);
 * ```
 */
export class GroupCommit {
  #file: Deno.FsFile;
  #failureFor: (cause: unknown) => Error;
  #encoder = new TextEncoder();
  #queue: string[] = [];
  #waiters: Waiter[] = [];
  #committing: Promise<void> | undefined;
  #failure: Error | undefined;
  #commits = 0;
  #bytes = 0;

  /** Write to `file`; `failure` makes the error every append rejects with once a write failed. */
  constructor(file: Deno.FsFile, failure: (cause: unknown) => Error) {
    this.#file = file;
    this.#failureFor = failure;
  }

  /** Batches written and fsynced so far. */
  get commits(): number {
    return this.#commits;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The error appends reject with since a write failed, or `undefined`. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Append `text`; resolves once it is durable. */
  append(text: string): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(text);
      this.#waiters.push({ resolve, reject });
      this.#committing ??= this.#commitLoop();
    });
  }

  /** Resolve once nothing is being written (whether or not it succeeded: see `failure`). */
  async settled(): Promise<void> {
    while (this.#committing !== undefined) await this.#committing;
  }

  /** Write and fsync batches until the queue is empty. */
  async #commitLoop(): Promise<void> {
    // Callers in the same turn (e.g. a burst of concurrent sends) join the first batch.
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const text = this.#queue.join("");
      const waiters = this.#waiters;
      this.#queue = [];
      this.#waiters = [];
      try {
        const bytes = this.#encoder.encode(text);
        let written = 0;
        while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
        await this.#file.syncData();
        this.#commits++;
        this.#bytes += bytes.length;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        this.#failure = this.#failureFor(error);
        for (const waiter of [...waiters, ...this.#waiters]) waiter.reject(this.#failure);
        this.#queue = [];
        this.#waiters = [];
      }
    }
    this.#committing = undefined;
  }
}
