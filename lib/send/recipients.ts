/**
 * Reading the recipients of a bulk send, streamed line by line so a file of
 * ten million numbers costs no more memory than the numbers already seen.
 *
 * Design notes: `docs/design.md` (recipients.ts).
 *
 * @module
 */

import { parseCsvRecord } from "./csv_record.ts";
import { type Line, LineSplitter } from "./line_splitter.ts";
import { PhoneNumberTable } from "./phone_number_table.ts";

/**
 * A recipient ready to send to.
 *
 * @example Collecting the recipients of a CSV file
 * ```ts
 * import { readRecipients, type Recipient } from "./recipients.ts";
 *
 * const csv = new Blob(["to,text\n+1 415 555 0100,Hello Ada\n"]).stream();
 * const recipients: Recipient[] = [];
 * for await (const entry of readRecipients(csv)) {
 *   if (entry.kind === "recipient") recipients.push(entry.recipient);
 * }
 * console.log(recipients); // [{ line: 2, to: "14155550100", text: "Hello Ada" }]
 * ```
 */
export interface Recipient {
  /** The 1-based line the recipient starts on. */
  line: number;
  /** E.164 digits without `+`, e.g. `14155550100`. */
  to: string;
  /** A per-recipient message from the `text` column or field; absent means "use --text". */
  text?: string;
}

/**
 * A line that could not be read as a recipient.
 *
 * @example Stopping on a fatal problem
 * ```ts
 * import { formatProblem, readRecipients, type RecipientProblem } from "./recipients.ts";
 *
 * const csv = new Blob(["name,email\nAda,ada@example.com\n"]).stream();
 * for await (const entry of readRecipients(csv)) {
 *   if (entry.kind !== "problem") continue;
 *   const problem: RecipientProblem = entry.problem;
 *   console.log(problem.fatal, formatProblem("people.csv", problem));
 *   // true people.csv:1: the CSV header names no phone column (found "name", "email"); …
 * }
 * ```
 */
export interface RecipientProblem {
  /** The 1-based line the problem is on. */
  line: number;
  /** Why, in words a user understands (no file name or line number). */
  reason: string;
  /**
   * `true` when nothing after this line can be read either (a CSV header without a phone
   * column, a binary or UTF-16 file): the reader stops, and skipping invalid lines must
   * not turn this into an empty, "successful" run.
   */
  fatal: boolean;
}

/**
 * A number listed again: it is sent once, from its first line.
 *
 * @example Finding numbers listed twice
 * ```ts
 * import { readRecipients, type RecipientDuplicate } from "./recipients.ts";
 *
 * const list = new Blob(["14155550100\n+1 415 555 0100\n"]).stream();
 * const duplicates: RecipientDuplicate[] = [];
 * for await (const entry of readRecipients(list)) {
 *   if (entry.kind === "duplicate") duplicates.push(entry.duplicate);
 * }
 * console.log(duplicates); // [{ line: 2, to: "14155550100", firstLine: 1 }]
 * ```
 */
export interface RecipientDuplicate {
  /** The 1-based line of the repeat. */
  line: number;
  /** The normalised number. */
  to: string;
  /** The line where the number was first listed. */
  firstLine: number;
}

/**
 * One item from {@linkcode readRecipients}, in input order.
 *
 * @example Counting entries by kind
 * ```ts
 * import { readRecipients, type RecipientEntry } from "./recipients.ts";
 *
 * const list = new Blob(["14155550100\n14155550100\nabc\n"]).stream();
 * type Kind = RecipientEntry["kind"];
 * const counts: Record<Kind, number> = { recipient: 0, problem: 0, duplicate: 0 };
 * for await (const entry of readRecipients(list)) counts[entry.kind]++;
 * console.log(counts); // { recipient: 1, problem: 1, duplicate: 1 }
 * ```
 */
export type RecipientEntry =
  | { kind: "recipient"; recipient: Recipient }
  | { kind: "problem"; problem: RecipientProblem }
  | { kind: "duplicate"; duplicate: RecipientDuplicate };

/**
 * Options for {@linkcode readRecipients}.
 *
 * @example Keeping repeats and refusing long lines
 * ```ts
 * import { readRecipients, type ReadRecipientsOptions } from "./recipients.ts";
 *
 * const options: ReadRecipientsOptions = { dedupe: false, maxLineBytes: 1_024 };
 * const list = new Blob(["14155550100\n14155550100\n"]).stream();
 * let count = 0;
 * for await (const entry of readRecipients(list, options)) if (entry.kind === "recipient") count++;
 * console.log(count); // 2: each line gets its own message
 * ```
 */
export interface ReadRecipientsOptions {
  /**
   * Yield each number once and report later copies as duplicates. The numbers seen are kept
   * in a compact table (24–48 bytes each: about 25 MB for a million numbers, where a
   * `Set<number>` takes 45 MB).
   *
   * @default {true}
   */
  dedupe?: boolean;
  /**
   * The longest line (or quoted multi-line CSV record) accepted, in bytes. Longer ones
   * are reported and skipped without being held in memory.
   *
   * @default {10240}
   */
  maxLineBytes?: number;
}

/**
 * The result of {@linkcode parsePhoneNumber}.
 *
 * @example Checking a number before using it
 * ```ts
 * import { parsePhoneNumber, type PhoneNumberResult } from "./recipients.ts";
 *
 * const result: PhoneNumberResult = parsePhoneNumber("0044 20 7946 0000");
 * if (result.ok) console.log(result.to);
 * else console.log(result.reason);
 * // "0044 20 7946 0000" starts with 00: leave out the international prefix and write the
 * // country code first (442079460000)
 * ```
 */
export type PhoneNumberResult = { ok: true; to: string } | { ok: false; reason: string };

/** Vonage accepts 1–1000 characters of SMS text. */
const MAX_TEXT_CHARS = 1000;
const PHONE_COLUMN_NAMES = ["to", "phone", "number", "msisdn", "mobile"];
// Common spellings of the same columns, compared after removing spaces, `_` and `-`.
const PHONE_COLUMN_ALIASES = new Set([...PHONE_COLUMN_NAMES, "phonenumber", "mobilenumber"]);
const ACCEPTED_NAMES_TEXT = `${PHONE_COLUMN_NAMES.join(", ")} (any case)`;

/**
 * Normalise and check one phone number: strip `+`, whitespace, `-`, `.`, `(` and `)`,
 * then require 7–15 digits without a leading 0 (E.164, as Vonage wants it).
 *
 * @example Normalising a number typed by a person
 * ```ts
 * import { parsePhoneNumber } from "./recipients.ts";
 *
 * console.log(parsePhoneNumber("+1 (415) 555-0100")); // { ok: true, to: "14155550100" }
 * console.log(parsePhoneNumber("12ab").ok); // false
 * ```
 */
export function parsePhoneNumber(raw: string): PhoneNumberResult {
  const digits = raw.replace(/[\s+\-.()]/g, "");
  // The common case first, without building any message.
  if (digits.length >= 7 && digits.length <= 15 && /^[1-9][0-9]*$/.test(digits)) {
    return { ok: true, to: digits };
  }
  const shown = quote(raw.trim());
  if (!/^[0-9]*$/.test(digits)) {
    return {
      ok: false,
      reason: `${shown} is not a phone number: only digits, spaces, + - . ( ) are allowed`,
    };
  }
  if (digits.length === 0) {
    return { ok: false, reason: `${shown} is not a phone number: no digits` };
  }
  if (digits.startsWith("00")) {
    return {
      ok: false,
      reason: `${shown} starts with 00: leave out the international prefix and write ` +
        `the country code first (${digits.slice(2)})`,
    };
  }
  if (digits.startsWith("0")) {
    return {
      ok: false,
      reason: `${shown} starts with 0: write it in international format, with the country ` +
        `code instead of the leading 0 (e.g. 44 20 … for a UK number)`,
    };
  }
  if (digits.length < 7) {
    return {
      ok: false,
      reason: `${shown} is too short for a phone number: ${digits.length} digits, at least 7 ` +
        `(international format with the country code, e.g. 14155550100)`,
    };
  }
  if (digits.length > 15) {
    return {
      ok: false,
      reason: `${shown} is too long for a phone number: ${digits.length} digits, at most 15`,
    };
  }
  return { ok: true, to: digits };
}

/**
 * Format a problem or a duplicate the way the CLI prints it: `FILE:LINE: why`.
 *
 * @example Printing a problem
 * ```ts
 * import { formatProblem } from "./recipients.ts";
 *
 * const text = formatProblem("recipients.csv", { line: 14, reason: "no digits", fatal: false });
 * console.log(text); // recipients.csv:14: no digits
 * ```
 */
export function formatProblem(file: string, item: RecipientProblem | RecipientDuplicate): string {
  if ("reason" in item) return `${file}:${item.line}: ${item.reason}`;
  return `${file}:${item.line}: ${item.to} is listed again (first on line ${item.firstLine}); ` +
    `it gets one message`;
}

/**
 * Read recipients from a byte stream (a file's `readable` or `Deno.stdin.readable`), one
 * line at a time: only what the caller asks for is pulled from the stream. The reader
 * owns the stream: it is read to the end, or cancelled (which closes a file) when the
 * caller stops early or a fatal problem ends the input.
 *
 * Blank lines are skipped; CRLF line ends, a UTF-8 byte order mark and a last line
 * without a newline are fine; invalid UTF-8 and over-long lines become problems.
 *
 * @example Reading a CSV file and printing its problems
 * ```ts
 * import { formatProblem, readRecipients } from "./recipients.ts";
 *
 * const csv = "name,phone\nAda,+44 20 7946 0000\nBob,12ab\n";
 * const stream = new Blob([csv]).stream();
 * for await (const entry of readRecipients(stream)) {
 *   if (entry.kind === "recipient") console.log(entry.recipient.to); // 442079460000
 *   if (entry.kind === "problem") console.log(formatProblem("people.csv", entry.problem));
 * }
 * ```
 */
export async function* readRecipients(
  stream: ReadableStream<Uint8Array>,
  options: ReadRecipientsOptions = {},
): AsyncGenerator<RecipientEntry, void, undefined> {
  const { dedupe = true, maxLineBytes = 10_240 } = options;
  if (!(Number.isInteger(maxLineBytes) && maxLineBytes > 0)) {
    throw new RangeError(
      `Cannot read recipients: 'maxLineBytes' must be a positive integer, current value is ${maxLineBytes}`,
    );
  }
  const splitter = new LineSplitter(maxLineBytes);
  const parser = new RecipientParser(maxLineBytes, dedupe ? new PhoneNumberTable() : undefined);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const raw of splitter.push(value)) {
        const entry = parser.line(raw);
        if (entry !== undefined) yield entry;
        if (parser.stopped) return;
      }
    }
    const last = splitter.end();
    if (last !== undefined) {
      const entry = parser.line(last);
      if (entry !== undefined) yield entry;
      if (parser.stopped) return;
    }
    const tail = parser.end();
    if (tail !== undefined) yield tail;
  } finally {
    // Cancelling a fully read stream is a no-op; cancelling a half-read file closes it.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

type Format = "unknown" | "csv" | "jsonl" | "list";

/** Turns lines into entries; holds the detected format and a CSV record spanning lines. */
class RecipientParser {
  stopped = false;
  #format: Format = "unknown";
  #maxBytes: number;
  #seen: PhoneNumberTable | undefined;
  #columnCount = 0;
  #phoneIndex = 0;
  #phoneName = "";
  #textIndex = -1;
  // A quoted CSV field with a newline inside: the record so far and its first line.
  #pending: { line: number; text: string } | undefined;

  constructor(maxBytes: number, seen: PhoneNumberTable | undefined) {
    this.#maxBytes = maxBytes;
    this.#seen = seen;
  }

  line(raw: Line): RecipientEntry | undefined {
    if (raw.text === undefined) {
      const startLine = this.#pending?.line ?? raw.line;
      this.#pending = undefined;
      const unknown = this.#format === "unknown";
      switch (raw.issue) {
        case "too-long":
          return this.#problem(
            startLine,
            `line is ${raw.byteLength} bytes long, more than the ${this.#maxBytes} allowed` +
              (unknown ? ": this does not look like a recipients file" : ""),
            unknown,
          );
        case "utf16":
          return this.#problem(
            1,
            'the file is UTF-16 encoded: save it as UTF-8 (in Excel: "CSV UTF-8")',
            true,
          );
        case "not-utf8":
          return this.#problem(
            startLine,
            "is not valid UTF-8 text: save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
            unknown,
          );
      }
    }
    // A byte order mark is decoded, not dropped, so that only the one at the start goes.
    const text = raw.line === 1 && raw.text.startsWith("\uFEFF") ? raw.text.slice(1) : raw.text;
    if (this.#pending !== undefined) return this.#continueCsv(raw.line, text);
    const trimmed = text.trim();
    if (trimmed === "") return undefined;
    switch (this.#format) {
      case "unknown":
        return this.#detect(raw.line, text, trimmed);
      case "list":
        return trimmed.startsWith("#") ? undefined : this.#number(raw.line, trimmed, undefined);
      case "jsonl":
        return this.#jsonLine(raw.line, trimmed);
      case "csv":
        return this.#csvRecord(raw.line, text);
    }
  }

  /** Whatever is still open at the end of the input. */
  end(): RecipientEntry | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    this.#pending = undefined;
    return this.#problem(
      pending.line,
      'a quoted field is never closed: the file ends inside it (a " is missing)',
      false,
    );
  }

  #detect(line: number, text: string, trimmed: string): RecipientEntry | undefined {
    if (trimmed.startsWith("{")) {
      this.#format = "jsonl";
      return this.#jsonLine(line, trimmed);
    }
    if (trimmed.startsWith("#")) {
      this.#format = "list";
      return undefined;
    }
    if (/[,"]/.test(trimmed) || !/[0-9]/.test(trimmed)) {
      this.#format = "csv";
      return this.#header(line, text);
    }
    this.#format = "list";
    return this.#number(line, trimmed, undefined);
  }

  #header(line: number, text: string): RecipientEntry | undefined {
    const parsed = parseCsvRecord(text);
    if (parsed.kind !== "fields") {
      return this.#problem(
        line,
        `cannot read the CSV header: ${
          parsed.kind === "open" ? "a quoted name is never closed" : parsed.reason
        }`,
        true,
      );
    }
    const names = parsed.fields.map((field) => field.trim());
    const keys = names.map((name) => name.toLowerCase().replace(/[\s_-]/g, ""));
    const phoneIndexes = keys.flatMap((key, index) => PHONE_COLUMN_ALIASES.has(key) ? [index] : []);
    const toIndexes = keys.flatMap((key, index) => key === "to" ? [index] : []);
    const found = names.map(quote).join(", ");
    if (phoneIndexes.length === 0) {
      const looksLikeData = names.some((name) => parsePhoneNumber(name).ok);
      return this.#problem(
        line,
        `the CSV header names no phone column (found ${found}); name the column to send to ` +
          `one of: ${ACCEPTED_NAMES_TEXT}` +
          (looksLikeData
            ? `. The first line looks like data: add a header line such as "to,name"`
            : "") +
          (text.includes(";") ? ". Separate columns with commas, not semicolons" : ""),
        true,
      );
    }
    let phoneIndex: number;
    if (toIndexes.length === 1) {
      phoneIndex = toIndexes[0]!;
    } else if (phoneIndexes.length === 1) {
      phoneIndex = phoneIndexes[0]!;
    } else {
      const which = phoneIndexes.map((index) => quote(names[index]!)).join(", ");
      return this.#problem(
        line,
        `the CSV header has more than one phone column (${which}); keep one, or name the ` +
          `column to send to "to"`,
        true,
      );
    }
    const textIndexes = keys.flatMap((key, index) => key === "text" ? [index] : []);
    if (textIndexes.length > 1) {
      return this.#problem(line, `the CSV header has more than one "text" column`, true);
    }
    this.#columnCount = names.length;
    this.#phoneIndex = phoneIndex;
    this.#phoneName = names[phoneIndex]!;
    this.#textIndex = textIndexes[0] ?? -1;
    return undefined;
  }

  #continueCsv(line: number, text: string): RecipientEntry | undefined {
    const pending = this.#pending!;
    pending.text += "\n" + text;
    if (pending.text.length > this.#maxBytes) {
      this.#pending = undefined;
      return this.#problem(
        pending.line,
        `a quoted field runs on past line ${line} and over ${this.#maxBytes} bytes: ` +
          `is a closing " missing?`,
        false,
      );
    }
    this.#pending = undefined;
    return this.#csvRecord(pending.line, pending.text);
  }

  #csvRecord(line: number, text: string): RecipientEntry | undefined {
    const parsed = parseCsvRecord(text);
    if (parsed.kind === "open") {
      this.#pending = { line, text };
      return undefined;
    }
    if (parsed.kind === "error") return this.#problem(line, parsed.reason, false);
    const fields = parsed.fields;
    if (fields.length !== this.#columnCount) {
      return this.#problem(
        line,
        `has ${plural(fields.length, "field")} but the header has ` +
          `${plural(this.#columnCount, "column")}` +
          (fields.length > this.#columnCount ? " (a comma inside a field must be quoted)" : ""),
        false,
      );
    }
    const phone = fields[this.#phoneIndex]!;
    if (phone.trim() === "") {
      return this.#problem(
        line,
        `no phone number: the ${quote(this.#phoneName)} field is empty`,
        false,
      );
    }
    const text_ = this.#textIndex >= 0 ? fields[this.#textIndex] : undefined;
    return this.#number(line, phone, text_ === "" ? undefined : text_);
  }

  #jsonLine(line: number, trimmed: string): RecipientEntry | undefined {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return this.#problem(line, `is not valid JSON: ${detail}`, false);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return this.#problem(line, `must be a JSON object like {"to": "14155550100"}`, false);
    }
    const record = value as Record<string, unknown>;
    const to = record.to;
    let raw: string;
    if (typeof to === "string") {
      raw = to;
    } else if (typeof to === "number" && Number.isSafeInteger(to)) {
      raw = String(to);
    } else if (to === undefined || to === null) {
      return this.#problem(line, `has no "to" field`, false);
    } else {
      return this.#problem(
        line,
        `"to" must be a string or a whole number, current value is ${JSON.stringify(to)}`,
        false,
      );
    }
    const text = record.text;
    if (text !== undefined && text !== null && typeof text !== "string") {
      return this.#problem(
        line,
        `"text" must be a string, current value is ${JSON.stringify(text)}`,
        false,
      );
    }
    return this.#number(line, raw, typeof text === "string" && text !== "" ? text : undefined);
  }

  #number(line: number, raw: string, text: string | undefined): RecipientEntry {
    const parsed = parsePhoneNumber(raw);
    if (!parsed.ok) return this.#problem(line, parsed.reason, false);
    if (text !== undefined) {
      // Count code points, as a person counts characters.
      let chars = 0;
      for (const _ of text) chars++;
      if (chars > MAX_TEXT_CHARS) {
        return this.#problem(
          line,
          `the text is ${chars} characters long; Vonage accepts at most ${MAX_TEXT_CHARS}`,
          false,
        );
      }
    }
    if (this.#seen !== undefined) {
      const firstLine = this.#seen.addOrGet(Number(parsed.to), line);
      if (firstLine !== 0) {
        return { kind: "duplicate", duplicate: { line, to: parsed.to, firstLine } };
      }
    }
    const recipient: Recipient = text === undefined
      ? { line, to: parsed.to }
      : { line, to: parsed.to, text };
    return { kind: "recipient", recipient };
  }

  #problem(line: number, reason: string, fatal: boolean): RecipientEntry {
    if (fatal) this.stopped = true;
    return { kind: "problem", problem: { line, reason, fatal } };
  }
}

/** A value shown in a message: quoted, escaped, and cut short if long. */
function quote(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
  return JSON.stringify(shown);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
