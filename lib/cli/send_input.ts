/**
 * `main.ts send`'s input: opened with clear errors, standard input spooled so it
 * can be read twice, a validation pass that names every bad line, and the
 * sending pass. Both passes stream: nothing holds the whole file.
 *
 * @module
 */

import {
  formatProblem,
  readRecipients,
  type ReadRecipientsOptions,
  type Recipient,
} from "../send/recipients.ts";
import type { MessageTemplate } from "../send/message_template.ts";
import { countSmsSegments, describeUcs2Cause, type SmsSegments } from "../send/sms_segments.ts";
import type { RecipientDigest } from "../redis/shared_send.ts";
import type { SendCommandIo } from "./send_io.ts";
import { UsageError } from "./usage_error.ts";

/** How many bad lines to print before summarising the rest. */
const MAX_PROBLEMS_SHOWN = 50;
/** How many UCS-2 warnings to print before summarising the rest. */
const MAX_WARNINGS_SHOWN = 10;

/**
 * Where the journal lives when `--journal` is not given: beside the input, named
 * after it whole (`people.csv` → `people.csv.journal.jsonl`), so two inputs that
 * differ only in extension never share a journal.
 */
export function defaultJournalPath(recipientsPath: string): string {
  return `${recipientsPath}.journal.jsonl`;
}

export async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`cannot read ${path}: no such file`);
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`cannot read ${path}: permission denied (run with --allow-read)`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`cannot read ${path}: it is a directory, not a recipients file`);
    }
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  // On Linux a directory opens fine and fails only on the first read.
  if ((await file.stat()).isDirectory) {
    file.close();
    throw new UsageError(`cannot read ${path}: it is a directory, not a recipients file`);
  }
  return file.readable;
}

/** Copy standard input to a temporary file so it can be read twice. */
export async function spoolStdin(): Promise<string> {
  let path: string | undefined;
  try {
    // makeTempFile creates it 0600: it holds every recipient's number.
    path = await Deno.makeTempFile({ prefix: "politely-stdin-", suffix: ".txt" });
    const file = await Deno.open(path, { write: true, truncate: true });
    await Deno.stdin.readable.pipeTo(file.writable);
    return path;
  } catch (error) {
    if (path !== undefined) await Deno.remove(path).catch(() => {});
    if (error instanceof Deno.errors.NotCapable) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const why = /os error 28\b/.test(message) ? `the disk is full (${message})` : message;
    throw new UsageError(
      `cannot keep standard input in a temporary file (it is read twice): ${why}; free ` +
        "space in the temporary folder (TMPDIR), or pass the recipients as a file; nothing sent",
      { cause: error },
    );
  }
}

/** What the validation pass found. */
export interface Validation {
  recipients: number;
  invalid: number;
  duplicates: number;
  missingText: number;
  /** SMS parts over all recipients' messages: what Vonage bills. */
  segments: number;
  /** Recipients whose message goes as GSM-7 and as UCS-2. */
  encodings: { "GSM-7": number; "UCS-2": number };
  first: Array<Recipient & { counted: SmsSegments }>;
}

/** The validation pass: every bad line named; throws a usage error unless all are good (or skipped). */
export async function validate(
  path: string,
  displayName: string,
  text: string | undefined,
  skipInvalid: boolean,
  io: SendCommandIo,
  readOptions: ReadRecipientsOptions,
  digest?: RecipientDigest,
): Promise<Validation> {
  const result: Validation = {
    recipients: 0,
    invalid: 0,
    duplicates: 0,
    missingText: 0,
    segments: 0,
    encodings: { "GSM-7": 0, "UCS-2": 0 },
    first: [],
  };
  let shown = 0;
  const show = (line: string) => {
    if (shown++ < MAX_PROBLEMS_SHOWN) io.stderr(line);
  };
  // The run's text is counted once; a text per recipient (its own, or a filled template)
  // is counted for each, and a warning names the characters that cost parts.
  const shared = text === undefined ? undefined : countSmsSegments(text);
  const sharedCause = shared === undefined ? undefined : describeUcs2Cause(shared);
  if (sharedCause !== undefined) io.stderr(`warning: --text goes as ${sharedCause}`);
  let warned = 0;
  for await (const entry of readRecipients(await openInput(path), readOptions)) {
    if (entry.kind === "problem") {
      result.invalid++;
      show(formatProblem(displayName, entry.problem));
      if (entry.problem.fatal) {
        // A placeholder naming no column is the message's mistake, not the file's.
        throw new UsageError(
          entry.problem.reason.startsWith("the message uses {{")
            ? `--text names a column ${displayName} does not have; nothing sent`
            : `${displayName} cannot be read as a recipients file; nothing sent`,
        );
      }
    } else if (entry.kind === "duplicate") {
      result.duplicates++;
      show(formatProblem(displayName, entry.duplicate));
    } else if (entry.recipient.text === undefined && text === undefined) {
      if (result.recipients === 0) {
        // Not a bad line but a missing flag: one message, not one per recipient.
        throw new UsageError(
          `no message text: pass --text "..." (${displayName} has no text for line ` +
            `${entry.recipient.line}, nor a text column or field)`,
        );
      }
      result.invalid++;
      result.missingText++;
      show(`${displayName}:${entry.recipient.line}: no text for this recipient: give --text`);
    } else {
      const own = entry.recipient.text;
      const counted = own === undefined ? shared! : countSmsSegments(own);
      if (own !== undefined && counted.encoding === "UCS-2") {
        const cause = describeUcs2Cause(counted);
        if (cause !== undefined && warned++ < MAX_WARNINGS_SHOWN) {
          io.stderr(
            `warning: ${displayName}:${entry.recipient.line}: the message goes as ${cause}`,
          );
        }
      }
      result.recipients++;
      result.segments += counted.segments;
      result.encodings[counted.encoding]++;
      digest?.add(entry.recipient);
      if (result.first.length < 3) result.first.push({ ...entry.recipient, counted });
    }
  }
  if (shown > MAX_PROBLEMS_SHOWN) {
    io.stderr(`... and ${shown - MAX_PROBLEMS_SHOWN} more`);
  }
  if (warned > MAX_WARNINGS_SHOWN) {
    io.stderr(
      `warning: ... and ${warned - MAX_WARNINGS_SHOWN} more messages sent as UCS-2 for a few ` +
        "characters",
    );
  }
  if (result.invalid > 0 && !skipInvalid) {
    throw new UsageError(
      `${result.invalid} invalid line${result.invalid === 1 ? "" : "s"} in ${displayName}; ` +
        "nothing sent. Fix them, or pass --skip-invalid to send to the valid ones",
    );
  }
  return result;
}

/** How both passes read the file: national numbers' country, and the template to fill. */
export function readOptionsFor(
  flags: { defaultCountry: string | undefined; template: MessageTemplate | undefined },
): ReadRecipientsOptions {
  const options: ReadRecipientsOptions = {};
  if (flags.defaultCountry !== undefined) options.defaultCountry = flags.defaultCountry;
  if (flags.template !== undefined) options.template = flags.template;
  return options;
}

/** The sending pass: the good recipients, streamed. */
export async function* sendable(
  path: string,
  text: string | undefined,
  readOptions: ReadRecipientsOptions,
): AsyncGenerator<Recipient> {
  for await (const entry of readRecipients(await openInput(path), readOptions)) {
    if (entry.kind !== "recipient") continue;
    if (entry.recipient.text === undefined && text === undefined) continue;
    yield entry.recipient;
  }
}
