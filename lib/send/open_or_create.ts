/**
 * Opening a file to read and append to, creating it readable by its owner only when it is
 * missing (the send journal and the receipts file list people's numbers).
 *
 * @module
 */

/**
 * Open `path` to read and write, creating it with mode 0600 when it does not exist;
 * `created` says which. Other errors (no such folder, no permission, …) are thrown as
 * `Deno.open` throws them.
 *
 * @example Creating, then opening again
 * ```ts
 * import { openOrCreate } from "./open_or_create.ts";
 *
 * const path = `${await Deno.makeTempDir()}/a.jsonl`;
 * const first = await openOrCreate(path);
 * first.file.close();
 * const second = await openOrCreate(path);
 * second.file.close();
 * console.log(first.created, second.created); // true false
 * ```
 */
export async function openOrCreate(
  path: string,
): Promise<{ file: Deno.FsFile; created: boolean }> {
  try {
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return { file, created: true };
  } catch (error: unknown) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return { file: await Deno.open(path, { read: true, write: true }), created: false };
  }
}
