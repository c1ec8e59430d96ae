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
import { checkClientRef } from "./client_ref.ts";
import { MessageTemplate } from "./message_template.ts";
import { readPhoneNumber } from "./phone_number.ts";
import { plural, quote } from "./wording.ts";

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
  /**
   * This recipient's message, placeholders filled: from the `text` column or field, or
   * the `template` with this line's values. Absent means "the template as it is" (it has
   * no placeholders, or there is none).
   */
  text?: string;
  /** A `client_ref` from the `client_ref` column or field; absent means "make one". */
  clientRef?: string;
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
  /**
   * The ISO 3166 alpha-2 country whose national numbers are read (`(415) 555-2671` with
   * `US`); without it, numbers are read as international digits.
   *
   * @default {undefined}
   */
  defaultCountry?: string;
  /**
   * The message for lines without their own text. Its placeholders must name columns of a
   * CSV header (else the header is a fatal problem); in JSON Lines a missing field is a
   * problem of that line.
   *
   * @default {undefined}
   */
  template?: MessageTemplate;
}

/** Vonage accepts 1–1000 characters of SMS text. */
const MAX_TEXT_CHARS = 1000;
const PHONE_COLUMN_NAMES = ["to", "phone", "number", "msisdn", "mobile"];
// Common spellings of the same columns, compared after removing spaces, `_` and `-`.
const PHONE_COLUMN_ALIASES = new Set([...PHONE_COLUMN_NAMES, "phonenumber", "mobilenumber"]);
const ACCEPTED_NAMES_TEXT = `${PHONE_COLUMN_NAMES.join(", ")} (any case)`;

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
  const { dedupe = true, maxLineBytes = 10_240, defaultCountry, template } = options;
  if (!(Number.isInteger(maxLineBytes) && maxLineBytes > 0)) {
    throw new RangeError(
      `Cannot read recipients: 'maxLineBytes' must be a positive integer, current value is ${maxLineBytes}`,
    );
  }
  const splitter = new LineSplitter(maxLineBytes);
  const parser = new RecipientParser({
    maxBytes: maxLineBytes,
    seen: dedupe ? new PhoneNumberTable() : undefined,
    defaultCountry,
    template,
  });
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

/** What a CSV or JSON Lines line gives besides its number. */
interface Row {
  /** The `text` column or field, when not empty: a template of its own. */
  ownText: string | undefined;
  /** A column's or field's value by placeholder name (trimmed, lower case). */
  valueOf: (name: string) => string | undefined;
  /** The `client_ref` column or field, when not empty. */
  clientRef: string | undefined;
}

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
  #clientRefIndex = -1;
  /** CSV column names, trimmed and lower-cased, to their index: what placeholders name. */
  #columns = new Map<string, number>();
  #defaultCountry: string | undefined;
  #template: MessageTemplate | undefined;
  // A quoted CSV field with a newline inside: the record so far and its first line.
  #pending: { line: number; text: string } | undefined;

  constructor(options: {
    maxBytes: number;
    seen: PhoneNumberTable | undefined;
    defaultCountry: string | undefined;
    template: MessageTemplate | undefined;
  }) {
    this.#maxBytes = options.maxBytes;
    this.#seen = options.seen;
    this.#defaultCountry = options.defaultCountry;
    this.#template = options.template;
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
        return trimmed.startsWith("#") ? undefined : this.#number(raw.line, trimmed);
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
    const comment = trimmed.startsWith("#");
    if (!comment && (/[,"]/.test(trimmed) || !/[0-9]/.test(trimmed))) {
      this.#format = "csv";
      return this.#header(line, text);
    }
    this.#format = "list";
    const names = this.#template?.names ?? [];
    if (names.length > 0) {
      return this.#problem(
        line,
        `the message uses ${names.map((name) => `{{${name}}}`).join(", ")}, but a list of ` +
          "numbers has no columns: use a CSV file with a header naming them",
        true,
      );
    }
    return comment ? undefined : this.#number(line, trimmed);
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
      const looksLikeData = names.some((name) => /^\+?[0-9][0-9 ().-]{5,}$/.test(name));
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
    const refIndexes = keys.flatMap((key, index) => key === "clientref" ? [index] : []);
    if (refIndexes.length > 1) {
      return this.#problem(line, `the CSV header has more than one "client_ref" column`, true);
    }
    const missing = this.#template?.missingFrom(names) ?? [];
    if (missing.length > 0) {
      return this.#problem(
        line,
        `the message uses ${missing.map((name) => `{{${name}}}`).join(", ")}, but the CSV ` +
          `header has no such column (found ${found}); fix the placeholder or add the column`,
        true,
      );
    }
    names.forEach((name, index) => {
      const key = name.toLowerCase();
      if (!this.#columns.has(key)) this.#columns.set(key, index);
    });
    this.#clientRefIndex = refIndexes[0] ?? -1;
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
    const ownText = this.#textIndex >= 0 ? fields[this.#textIndex] : undefined;
    const ref = this.#clientRefIndex >= 0 ? fields[this.#clientRefIndex] : undefined;
    return this.#number(line, phone, {
      ownText: ownText === "" ? undefined : ownText,
      valueOf: (name) => {
        const index = this.#columns.get(name);
        return index === undefined ? undefined : fields[index];
      },
      clientRef: ref === "" ? undefined : ref,
    });
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
    } else if (typeof to === "number") {
      const why = !Number.isSafeInteger(to)
        ? Number.isInteger(to) ? "too large to be read exactly" : "not a whole number"
        : to <= 0
        ? "not a positive number"
        : undefined;
      if (why !== undefined) {
        return this.#problem(
          line,
          `"to" is ${JSON.stringify(to)}, ${why}: a phone number is digits; write it as a ` +
            `string ("to": "14155550100")`,
          false,
        );
      }
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
    const ref = record.client_ref;
    if (ref !== undefined && ref !== null && typeof ref !== "string") {
      return this.#problem(
        line,
        `"client_ref" must be a string, current value is ${JSON.stringify(ref)}`,
        false,
      );
    }
    return this.#number(line, raw, {
      ownText: typeof text === "string" && text !== "" ? text : undefined,
      valueOf: (name) => {
        for (const key in record) {
          if (key.trim().toLowerCase() !== name) continue;
          const value = record[key];
          if (typeof value === "string") return value;
          if (typeof value === "number" || typeof value === "boolean") return String(value);
        }
        return undefined;
      },
      clientRef: typeof ref === "string" && ref !== "" ? ref : undefined,
    });
  }

  #number(line: number, raw: string, row?: Row): RecipientEntry {
    const parsed = this.#defaultCountry === undefined
      ? readPhoneNumber(raw)
      : readPhoneNumber(raw, { defaultCountry: this.#defaultCountry });
    if (!parsed.ok) return this.#problem(line, parsed.reason, false);
    let template = this.#template;
    if (row?.ownText !== undefined) {
      try {
        template = MessageTemplate.parse(row.ownText);
      } catch (error) {
        return this.#problem(line, `the text's ${(error as SyntaxError).message}`, false);
      }
    }
    let text: string | undefined;
    if (template !== undefined && (template.names.length > 0 || row?.ownText !== undefined)) {
      const rendered = template.render(row?.valueOf ?? (() => undefined));
      if (!rendered.ok) return this.#problem(line, rendered.reason, false);
      text = rendered.text;
    }
    const clientRef = row?.clientRef;
    if (clientRef !== undefined) {
      const why = checkClientRef(clientRef);
      if (why !== undefined) return this.#problem(line, why, false);
    }
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
    const recipient: Recipient = { line, to: parsed.to };
    if (text !== undefined) recipient.text = text;
    if (clientRef !== undefined) recipient.clientRef = clientRef;
    return { kind: "recipient", recipient };
  }

  #problem(line: number, reason: string, fatal: boolean): RecipientEntry {
    if (fatal) this.stopped = true;
    return { kind: "problem", problem: { line, reason, fatal } };
  }
}
