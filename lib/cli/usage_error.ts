/**
 * A mistake by the person running the CLI: a bad flag, a missing credential, an
 * unreadable file. `main.ts` prints its message (one line, no stack trace) and
 * exits 2.
 *
 * @module
 */

/**
 * An error the user can fix. The message says what is wrong and what to do.
 *
 * @example Refusing a bad flag
 * ```ts
 * import { UsageError } from "./usage_error.ts";
 *
 * try {
 *   throw new UsageError("--rate must be a positive number, got -1");
 * } catch (error) {
 *   if (error instanceof UsageError) console.error(error.message);
 * }
 * ```
 */
export class UsageError extends Error {
  /** Create a usage error with a message meant for the person at the terminal. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}
