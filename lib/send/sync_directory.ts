/**
 * Making a new file's directory entry durable, so that a file created and fsynced (the send
 * journal, the receipts file) survives a power cut.
 *
 * @module
 */

import { dirname } from "node:path";

/**
 * Fsync the directory that holds `path` (POSIX). Best effort: where a directory cannot be
 * opened (e.g. Windows) it does nothing; the file's own data is still synced.
 *
 * @example After creating a file
 * ```ts
 * import { syncDirectory } from "./sync_directory.ts";
 *
 * const path = await Deno.makeTempFile();
 * await syncDirectory(path);
 * await Deno.remove(path);
 * ```
 */
export async function syncDirectory(path: string): Promise<void> {
  try {
    const directory = await Deno.open(dirname(path) || ".", { read: true });
    try {
      await directory.sync();
    } finally {
      directory.close();
    }
  } catch {
    // Not supported here (e.g. Windows); the file's own data is still synced.
  }
}
