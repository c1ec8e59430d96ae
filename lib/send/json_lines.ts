/**
 * Reading a JSON Lines file that another process may be appending to: whole lines only,
 * a chunk at a time (memory stays flat however long the file), and where the last whole
 * line ends, so a reader can continue from there or drop a torn tail. The send journal and
 * the receipts file both read this way.
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
 * const read: LinesRead = { end: 120, lines: 3, torn: false, tail: "" };
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
  /** The text after the last whole line (`""` when not torn): a record cut short, or whole but for its newline. */
  tail: string;
}

/**
 * How {@linkcode forEachLine} guards against a file that is not JSON Lines.
 *
 * @example Refusing lines longer than a megabyte
 * ```ts
 * import type { LinesOptions } from "./json_lines.ts";
 *
 * const options: LinesOptions = {
 *   maxLineChars: 1_048_576,
 *   tooLong: (lineNumber) => new Error(`line ${lineNumber} is far too long`),
 * };
 * console.log(options.maxLineChars); // 1048576
 * ```
 */
export interface LinesOptions {
  /**
   * How many characters may follow the last newline read so far (memory stays bounded): a
   * line that runs past this without its newline stops the read with the error
   * {@linkcode LinesOptions.tooLong} returns. Checked after each 64 KiB chunk; a whole line
   * is passed on whatever its length.
   *
   * @default {Infinity}
   */
  maxLineChars?: number;
  /**
   * The error for a line longer than {@linkcode LinesOptions.maxLineChars}, given its
   * line number (1-based from `offset`).
   *
   * @default {a plain Error naming the line}
   */
  tooLong?: (lineNumber: number) => Error;
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
 * console.log(read); // { end: 16, lines: 2, torn: true, tail: '{"a":' }
 * await Deno.remove(path);
 * ```
 */
export async function forEachLine(
  file: Deno.FsFile,
  offset: number,
  onLine: (line: string) => void | Promise<void>,
  options: LinesOptions = {},
): Promise<LinesRead> {
  const {
    maxLineChars = Infinity,
    tooLong = (lineNumber: number) =>
      new Error(`Line ${lineNumber} is over ${maxLineChars} characters`),
  } = options;
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
      // Awaited only when it returns a promise: a journal of a million lines replays in sync.
      const done = onLine(line);
      if (done !== undefined) await done;
    }
    if (carry.length > maxLineChars) throw tooLong(lines + 1);
  }
  return { end, lines, torn: position > end, tail: carry + decoder.decode() };
}
