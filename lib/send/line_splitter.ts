/**
 * Bytes to lines for the recipients reader: decoded as UTF-8, line ends and a
 * byte order mark removed, an over-long or undecodable line reported by number
 * instead of held or thrown.
 *
 * @module
 */

/** One line, decoded and without its line end, or why it could not be. */
export type Line =
  | { line: number; text: string }
  | { line: number; text: undefined; issue: "too-long"; byteLength: number }
  | { line: number; text: undefined; issue: "not-utf8" | "utf16" };

/**
 * Cuts a byte stream into decoded lines without holding more than one partial line: an
 * over-long line is counted, not kept. The complete lines of a chunk are decoded in one
 * call (decoding line by line costs a third of the time on a large file); only a region
 * with invalid UTF-8 is decoded again line by line to say which line is bad.
 *
 * @example Splitting two chunks into lines
 * ```ts ignore
 * const splitter = new LineSplitter(10_240);
 * const lines = [...splitter.push(bytes), ...splitter.end()];
 * ```
 */
export class LineSplitter {
  #maxBytes: number;
  #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  #overlong = false;
  #lineNumber = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  *push(chunk: Uint8Array): Generator<Line> {
    const first = chunk.indexOf(10);
    if (first < 0) {
      this.#keep(chunk);
      return;
    }
    yield this.#finish(chunk.subarray(0, first));
    const last = chunk.lastIndexOf(10);
    if (last > first) yield* this.#region(chunk.subarray(first + 1, last));
    if (last + 1 < chunk.length) this.#keep(chunk.subarray(last + 1));
  }

  /** The last line when the input does not end with a newline. */
  end(): Line | undefined {
    if (this.#partBytes === 0 && !this.#overlong) return undefined;
    return this.#finish(new Uint8Array(0));
  }

  /** Whole lines: `bytes` holds no line start from an earlier chunk and ends before a "\n". */
  *#region(bytes: Uint8Array): Generator<Line> {
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      let start = 0;
      for (;;) {
        const newline = bytes.indexOf(10, start);
        yield this.#decode(bytes.subarray(start, newline < 0 ? bytes.length : newline));
        if (newline < 0) return;
        start = newline + 1;
      }
    }
    for (let piece of text.split("\n")) {
      const line = ++this.#lineNumber;
      if (piece.endsWith("\r")) piece = piece.slice(0, -1);
      // UTF-8 takes 1–3 bytes per UTF-16 unit: count bytes only when it could matter.
      if (piece.length * 3 > this.#maxBytes) {
        const byteLength = utf8Length(piece);
        if (byteLength > this.#maxBytes) {
          yield { line, text: undefined, issue: "too-long", byteLength };
          continue;
        }
      }
      yield { line, text: piece };
    }
  }

  #keep(part: Uint8Array): void {
    this.#partBytes += part.length;
    if (this.#overlong) return;
    if (this.#partBytes > this.#maxBytes) {
      this.#overlong = true;
      this.#parts = [];
      return;
    }
    // Copy: the remainder must not keep a large chunk alive.
    this.#parts.push(part.slice());
  }

  #finish(tail: Uint8Array): Line {
    const overlong = this.#overlong;
    const byteLength = this.#partBytes + tail.length;
    let bytes = tail;
    if (!overlong && this.#parts.length > 0) {
      bytes = new Uint8Array(byteLength);
      let offset = 0;
      for (const part of this.#parts) {
        bytes.set(part, offset);
        offset += part.length;
      }
      bytes.set(tail, offset);
    }
    this.#parts = [];
    this.#partBytes = 0;
    this.#overlong = false;
    if (overlong || byteLength > this.#maxBytes + 1) {
      return { line: ++this.#lineNumber, text: undefined, issue: "too-long", byteLength };
    }
    return this.#decode(bytes);
  }

  /** Decode one line's bytes (without its "\n"). */
  #decode(bytes: Uint8Array): Line {
    const line = ++this.#lineNumber;
    if (bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.#maxBytes) {
      return { line, text: undefined, issue: "too-long", byteLength: bytes.length };
    }
    try {
      return { line, text: this.#decoder.decode(bytes) };
    } catch {
      const utf16 = line === 1 &&
        ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
      return { line, text: undefined, issue: utf16 ? "utf16" : "not-utf8" };
    }
  }
}

/** The UTF-8 length of a string, in bytes. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      // A surrogate pair is one 4-byte character.
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}
