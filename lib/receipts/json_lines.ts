/**
 * Reading a JSON Lines file that another process may be appending to: whole lines only,
 * a chunk at a time (memory stays flat however long the file), and where the last whole
 * line ends, so a reader can continue from there or drop a torn tail.
 *
 * @module
 */

/**
 * What {@linkcode forEachLine} read.
 *
 * @example Continuing from where a read stopped
 * ```ts
 * import type { LinesRead } from "./json_lines.ts";
 *
 * const read: LinesRead = { end: 120, lines: 3, torn: false };
 * console.log(read.end); // the offset to start the next read at
 * ```
 */
export interface LinesRead {
  /** The byte offset just past the last whole line (where a torn tail starts). */
  end: number;
  /** Whole lines read. */
  lines: number;
  /** Whether bytes follow the last whole line: a write in progress, or a crash mid-write. */
  torn: boolean;
}

/**
 * Call `onLine` for each whole line of `file` from byte `offset` on, in order, 64 KiB at a
 * time; a last line without its newline is not passed (see {@linkcode LinesRead.torn}).
 *
 * @example Counting the lines of a file
 * ```ts
 * import { forEachLine } from "./json_lines.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"a":1}\n{"a":2}\n{"a":');
 * using file = await Deno.open(path);
 * const read = await forEachLine(file, 0, () => {});
 * console.log(read); // { end: 16, lines: 2, torn: true }
 * await Deno.remove(path);
 * ```
 */
export async function forEachLine(
  file: Deno.FsFile,
  offset: number,
  onLine: (line: string) => void | Promise<void>,
): Promise<LinesRead> {
  await file.seek(offset, Deno.SeekMode.Start);
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let carry = "";
  let position = offset;
  let end = offset;
  let lines = 0;
  for (;;) {
    const count = await file.read(buffer);
    if (count === null) break;
    const chunk = buffer.subarray(0, count);
    const lastNewline = chunk.lastIndexOf(10);
    if (lastNewline >= 0) end = position + lastNewline + 1;
    position += count;
    carry += decoder.decode(chunk, { stream: true });
    const parts = carry.split("\n");
    carry = parts.pop()!;
    for (const line of parts) {
      lines++;
      await onLine(line);
    }
  }
  return { end, lines, torn: position > end };
}
