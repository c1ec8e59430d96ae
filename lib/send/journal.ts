/**
 * The journal: a bulk send's durable memory, so that a crash (even `kill -9`) or a
 * rerun never loses track of a message and never sends one twice unless asked.
 *
 * Design notes: `docs/design.md` (journal.ts).
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { GroupCommit } from "./group_commit.ts";
import { forEachLine } from "./json_lines.ts";
import { openOrCreate } from "./open_or_create.ts";
import { syncDirectory } from "./sync_directory.ts";

/**
 * What ties a journal to one send: it is refused for a different sender or text.
 *
 * @example Tying a journal to one message
 * ```ts
 * import { hashMessageText, Journal, type JournalHeader } from "./journal.ts";
 *
 * const text = "Your code is 1234";
 * const header: JournalHeader = { from: "Acme", textHash: await hashMessageText(text) };
 * const path = await Deno.makeTempFile();
 * const journal = await Journal.open(path, header); // a rerun with another text is refused
 * await journal.close();
 * await Deno.remove(path);
 * ```
 */
export interface JournalHeader {
  /** The sender (`--from`): a number or an alphanumeric sender id. */
  from: string;
  /** A hash of the message text, from {@linkcode hashMessageText}; the text is not stored. */
  textHash: string;
}

/**
 * What the journal knows about one number, after replay.
 *
 * @example Deciding whether to send to a number again
 * ```ts
 * import type { JournalState } from "./journal.ts";
 *
 * function shouldSend(state: JournalState | undefined, resendUncertain: boolean): boolean {
 *   if (state === undefined || state.state === "pending") return true;
 *   return state.state === "uncertain" && resendUncertain; // accepted, failed: never again
 * }
 * const state: JournalState = { state: "uncertain", reason: "no answer", attempts: 1 };
 * console.log(shouldSend(state, false)); // false: it may have been accepted
 * ```
 */
export type JournalState =
  | {
    /** Accepted by the API: never send again. */
    state: "accepted";
    messageUuid: string;
    /** How many `sending` records the number has. */
    attempts: number;
  }
  | {
    /** Refused for good (e.g. 400/422): skip. */
    state: "failed";
    reason: string;
    attempts: number;
  }
  | {
    /**
     * May have been accepted: skip unless the user asks to resend. Also the state of a
     * `sending` with no outcome after it (the run stopped mid-request).
     */
    state: "uncertain";
    reason: string;
    attempts: number;
  }
  | {
    /** Every attempt so far was definitely not accepted (429, 503, refused): send. */
    state: "pending";
    reason: string;
    attempts: number;
  };

/**
 * What opening the journal found.
 *
 * @example Saying whether a run resumes an earlier one
 * ```ts
 * import { hashMessageText, Journal, type JournalReplay } from "./journal.ts";
 *
 * const path = await Deno.makeTempFile();
 * const header = { from: "Acme", textHash: await hashMessageText("Hi") };
 * const journal = await Journal.open(path, header);
 * const replay: JournalReplay = journal.replay;
 * console.log(replay.resumed ? `resuming ${replay.createdAt}` : "new journal"); // new journal
 * await journal.close();
 * await Deno.remove(path);
 * ```
 */
export interface JournalReplay {
  /** `true` when an existing journal was continued, `false` when a new one was started. */
  resumed: boolean;
  /** Records read (the header included). */
  records: number;
  /** Torn last lines dropped (0 or 1): the run before was killed mid-write. */
  tornLines: number;
  /**
   * When the journal was started (ISO 8601), or `undefined` for {@linkcode Journal.none}.
   * A journal whose sender or text was replaced counts as started then.
   */
  createdAt: string | undefined;
  /**
   * The sender and text hash the journal had before this run replaced them: set when an
   * earlier run of another sender or text left nothing accepted (nor possibly accepted),
   * so this run continues the journal with its own, starting over.
   */
  replaced?: JournalHeader;
}

/**
 * Counters for what the journal has written since it was opened.
 *
 * @example Seeing group commit at work
 * ```ts
 * import { hashMessageText, Journal, type JournalStats } from "./journal.ts";
 *
 * const path = await Deno.makeTempFile();
 * const header = { from: "Acme", textHash: await hashMessageText("Hi") };
 * const journal = await Journal.open(path, header);
 * await Promise.all(["14155550100", "14155550101"].map((to) => journal.sending(to, 1)));
 * const stats: JournalStats = journal.stats;
 * console.log(`${stats.records} records, ${stats.commits} fsyncs`);
 * // 2 records, 2 fsyncs: one for the header, one shared by both records
 * await journal.close();
 * await Deno.remove(path);
 * ```
 */
export interface JournalStats {
  /** Records appended (or, for {@linkcode Journal.none}, accepted and dropped). */
  records: number;
  /** Batches made durable: each is one write and one `fdatasync`. */
  commits: number;
  /** Bytes written. */
  bytes: number;
}

/**
 * Options for {@linkcode Journal.open}.
 *
 * @example Fixed timestamps for a golden-file test
 * ```ts
 * import { hashMessageText, Journal, type JournalOptions } from "./journal.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 *
 * const options: JournalOptions = { clock: new FakeClock(Date.UTC(2026, 0, 1)) };
 * const path = await Deno.makeTempFile();
 * const header = { from: "Acme", textHash: await hashMessageText("Hi") };
 * const journal = await Journal.open(path, header, options);
 * console.log(journal.replay.createdAt); // 2026-01-01T00:00:00.000Z
 * await journal.close();
 * await Deno.remove(path);
 * ```
 */
export interface JournalOptions {
  /**
   * Where the `at` and `createdAt` timestamps come from.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/**
 * Why a journal could not be used; the CLI prints the message and exits with status 2.
 *
 * @example Telling "another message" apart
 * ```ts
 * import { hashMessageText, Journal, JournalError, type JournalErrorCode } from "./journal.ts";
 *
 * const path = await Deno.makeTempFile();
 * const first = await Journal.open(path, { from: "Acme", textHash: await hashMessageText("Hi") });
 * await first.close();
 * let code: JournalErrorCode | undefined;
 * try {
 *   await Journal.open(path, { from: "Acme", textHash: await hashMessageText("Hello") });
 * } catch (error) {
 *   if (error instanceof JournalError) code = error.code;
 * }
 * console.log(code); // different-text
 * await Deno.remove(path);
 * ```
 */
export type JournalErrorCode =
  | "different-text"
  | "different-sender"
  | "unsupported-version"
  | "not-a-journal"
  | "corrupt"
  | "in-use"
  | "cannot-open"
  | "write-failed";

/**
 * A journal that cannot be used for this run, or that could not be written. The message
 * names the file and says what to do.
 *
 * @example Turning a journal error into an exit status
 * ```ts
 * import { hashMessageText, Journal, JournalError } from "./journal.ts";
 *
 * const path = await Deno.makeTempFile();
 * try {
 *   const journal = await Journal.open(path, { from: "Acme", textHash: await hashMessageText("Hi") });
 *   await journal.close();
 * } catch (error) {
 *   if (!(error instanceof JournalError)) throw error;
 *   console.error(error.message);
 *   Deno.exitCode = 2;
 * } finally {
 *   await Deno.remove(path);
 * }
 * ```
 */
export class JournalError extends Error {
  /** What is wrong, for code that handles cases differently. */
  readonly code: JournalErrorCode;
  /** The journal file. */
  readonly path: string;

  /** Create an error about the journal at `path`. */
  constructor(code: JournalErrorCode, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalError";
    this.code = code;
    this.path = path;
  }
}

/**
 * Hash a message text for {@linkcode JournalHeader.textHash}: `sha256:` and 64 hex digits.
 * The journal stores the hash, not the text, so it holds no message content.
 *
 * @example Hashing the text of a send
 * ```ts
 * import { hashMessageText } from "./journal.ts";
 *
 * console.log((await hashMessageText("Your code is 1234")).startsWith("sha256:")); // true
 * ```
 */
export async function hashMessageText(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0"));
  return `sha256:${hex.join("")}`;
}

const VERSION = 1;
const MAX_LINE_CHARS = 1_048_576;
const INTERRUPTED = "the run stopped while this message was being sent: it may have been accepted";

type JournalRecord =
  | { type: "header"; version: number; from: string; textHash: string; createdAt: string }
  | { type: "sending"; to: string; attempt?: number; ref?: string; at: string }
  | { type: "accepted"; to: string; messageUuid: string; at: string }
  | { type: "failed" | "uncertain" | "released"; to: string; reason: string; at: string };

type HeaderRecord = Extract<JournalRecord, { type: "header" }>;

/**
 * The durable record of a bulk send. Open one per run with {@linkcode Journal.open} (or
 * {@linkcode Journal.none} for `--no-journal`), consult {@linkcode Journal.previous}
 * to skip numbers already decided, and record every attempt:
 *
 * 1. `await journal.sending(to)` — only then send the request;
 * 2. then exactly one of `accepted`, `failed`, `uncertain` (the request may have gone
 *    through) or `released` (it definitely did not: 429, 503, connection refused).
 *
 * Every method returns a promise that resolves once the record is durable; await them
 * (an ignored rejection would end the process). Once a write fails, every later call
 * rejects with the same {@linkcode JournalError}: stop sending.
 *
 * @example Recording a send
 * ```ts
 * import { hashMessageText, Journal } from "./journal.ts";
 *
 * const directory = await Deno.makeTempDir();
 * const header = { from: "Acme", textHash: await hashMessageText("Hello") };
 * const journal = await Journal.open(`${directory}/recipients.csv.journal.jsonl`, header);
 * const state = journal.previous.get("14155550100")?.state;
 * if (state === undefined || state === "pending") {
 *   await journal.sending("14155550100", 1);
 *   // … send the request, then:
 *   await journal.accepted("14155550100", "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab");
 * }
 * await journal.close();
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export class Journal implements AsyncDisposable {
  /**
   * The state of every number the journal knew when it was opened (it is not updated as
   * records are added). Skip `accepted` and `failed`; skip `uncertain` unless resending
   * was asked for; send `pending` and numbers not in the map.
   */
  readonly previous: ReadonlyMap<string, JournalState>;
  /** What opening found: whether the journal was resumed, records read, torn lines. */
  readonly replay: JournalReplay;
  /** The journal file, or `undefined` for {@linkcode Journal.none}. */
  readonly path: string | undefined;

  #file: Deno.FsFile | undefined;
  /** Writes to `#file`; `undefined` for {@linkcode Journal.none}. */
  #writer: GroupCommit | undefined;
  #clock: Clock;
  #closed = false;
  #records = 0;

  private constructor(
    path: string | undefined,
    file: Deno.FsFile | undefined,
    previous: Map<string, JournalState>,
    replay: JournalReplay,
    clock: Clock,
  ) {
    this.path = path;
    this.#file = file;
    this.#writer = file === undefined ? undefined : new GroupCommit(file, (error) => {
      const message = error instanceof Error ? error.message : String(error);
      return new JournalError(
        "write-failed",
        path!,
        `Cannot write the journal ${path}: ${
          /os error 28\b/.test(message) ? `the disk is full (${message})` : message
        }. Stopping, so that no message is sent without a record.`,
        { cause: error },
      );
    });
    this.previous = previous;
    this.replay = replay;
    this.#clock = clock;
  }

  /**
   * Open the journal at `path`, creating it (with its header, made durable) if it does
   * not exist, or replaying it if it does. Holds an exclusive lock on the file until
   * {@linkcode Journal.close}, so two runs cannot write one journal.
   *
   * Throws a {@linkcode JournalError} when the file belongs to another send (different
   * sender or text), is not a journal, is damaged before its last line, or is in use.
   *
   * @example Resuming a send
   * ```ts
   * import { hashMessageText, Journal } from "./journal.ts";
   *
   * const path = await Deno.makeTempFile();
   * const header = { from: "Acme", textHash: await hashMessageText("Hello") };
   * const first = await Journal.open(path, header);
   * await first.sending("14155550100", 1);
   * await first.close(); // as if the run had crashed mid-request
   * const second = await Journal.open(path, header);
   * console.log(second.previous.get("14155550100")?.state); // "uncertain"
   * await second.close();
   * await Deno.remove(path);
   * ```
   */
  static async open(
    path: string,
    header: JournalHeader,
    options: JournalOptions = {},
  ): Promise<Journal> {
    const { clock = realClock } = options;
    let file: Deno.FsFile;
    let created: boolean;
    try {
      // It lists every recipient's number: readable by its owner only.
      ({ file, created } = await openOrCreate(path));
    } catch (error) {
      throw cannotOpen(path, error);
    }
    try {
      if (!(await file.tryLock(true))) {
        throw new JournalError(
          "in-use",
          path,
          `The journal ${path} is in use by another send that is still running; wait for ` +
            `it to finish, or use another --journal FILE.`,
        );
      }
      const read = await readJournal(file, path, header);
      const replay: JournalReplay = {
        resumed: read.createdAt !== undefined,
        records: read.records,
        tornLines: read.tornLines,
        createdAt: read.replaced === undefined && read.createdAt !== undefined
          ? read.createdAt
          : new Date(clock.now()).toISOString(),
      };
      if (read.replaced !== undefined) replay.replaced = read.replaced;
      const journal = new Journal(path, file, read.previous, replay, clock);
      if (read.truncateTo !== undefined) await file.truncate(read.truncateTo);
      await file.seek(0, Deno.SeekMode.End);
      if (read.needsNewline) await journal.#appendRaw("\n");
      if (read.createdAt === undefined || read.replaced !== undefined) {
        await journal.#append({
          type: "header",
          version: VERSION,
          from: header.from,
          textHash: header.textHash,
          createdAt: journal.replay.createdAt!,
        });
      }
      if (created) await syncDirectory(path);
      return journal;
    } catch (error) {
      file.close();
      // A file this call created holds nothing worth keeping (at most a torn header).
      const inUse = error instanceof JournalError && error.code === "in-use";
      if (created && !inUse) await Deno.remove(path).catch(() => {});
      throw error;
    }
  }

  /**
   * A journal that keeps nothing, for `--no-journal` and dry runs: every record is
   * accepted at once and dropped, and {@linkcode Journal.previous} is empty.
   *
   * @example Sending without a journal
   * ```ts
   * import { Journal } from "./journal.ts";
   *
   * const journal = Journal.none();
   * await journal.sending("14155550100", 1);
   * console.log(journal.stats.records); // 1
   * await journal.close();
   * ```
   */
  static none(): Journal {
    return new Journal(
      undefined,
      undefined,
      new Map(),
      { resumed: false, records: 0, tornLines: 0, createdAt: undefined },
      realClock,
    );
  }

  /** What has been written since the journal was opened. */
  get stats(): JournalStats {
    return {
      records: this.#records,
      commits: this.#writer?.commits ?? 0,
      bytes: this.#writer?.bytes ?? 0,
    };
  }

  /**
   * Record that a request for `to` is about to be sent (`attempt`, if given, is stored
   * for people reading the file: 1 for the first try; `clientRef`, if given, is the
   * recipient's own `client_ref`, stored as `ref` so a receipt can be matched by it).
   * Resolves once the record is on disk: send only then.
   */
  sending(to: string, attempt?: number, clientRef?: string): Promise<void> {
    const record: JournalRecord = { type: "sending", to, at: this.#now() };
    if (attempt !== undefined) record.attempt = attempt;
    if (clientRef !== undefined) record.ref = clientRef;
    return this.#append(record);
  }

  /** Record that the API accepted the message to `to`. */
  accepted(to: string, messageUuid: string): Promise<void> {
    return this.#append({ type: "accepted", to, messageUuid, at: this.#now() });
  }

  /** Record that the message to `to` was refused for good (it will not be retried). */
  failed(to: string, reason: string): Promise<void> {
    return this.#append({ type: "failed", to, reason, at: this.#now() });
  }

  /** Record that the message to `to` may or may not have been accepted. */
  uncertain(to: string, reason: string): Promise<void> {
    return this.#append({ type: "uncertain", to, reason, at: this.#now() });
  }

  /**
   * Record that the last attempt for `to` was definitely not accepted (429, 503,
   * connection refused), so a crash before the next attempt leaves it safe to send
   * rather than uncertain.
   */
  released(to: string, reason: string): Promise<void> {
    return this.#append({ type: "released", to, reason, at: this.#now() });
  }

  /** Resolve once every record appended so far is durable. */
  async flush(): Promise<void> {
    await this.#writer?.settled();
    if (this.#writer?.failure !== undefined) throw this.#writer.failure;
  }

  /**
   * Make every record durable, then close the file (which releases the lock). Calling it
   * again does nothing. Rejects if a record could not be written.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#writer?.settled();
    } finally {
      this.#closed = true;
      this.#file?.close();
      this.#file = undefined;
    }
    if (this.#writer?.failure !== undefined) throw this.#writer.failure;
  }

  /** Same as {@linkcode Journal.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  #append(record: JournalRecord): Promise<void> {
    return this.#appendRaw(JSON.stringify(record) + "\n", record.type !== "header");
  }

  #appendRaw(text: string, countRecord = false): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new Error(`Cannot write to the journal ${this.path ?? "(none)"}: it is closed`),
      );
    }
    if (this.#writer?.failure !== undefined) return Promise.reject(this.#writer.failure);
    if (countRecord) this.#records++;
    return this.#writer?.append(text) ?? Promise.resolve();
  }
}

interface ReadResult {
  previous: Map<string, JournalState>;
  /** From the header; `undefined` when the file held no complete header (a new journal). */
  createdAt: string | undefined;
  /** The header this run's replaces (another sender or text, nothing accepted). */
  replaced: JournalHeader | undefined;
  records: number;
  tornLines: number;
  /** Cut the file here to drop a torn last line. */
  truncateTo: number | undefined;
  /** The last record is whole but its newline was not written. */
  needsNewline: boolean;
}

/**
 * Read the journal from the start, line by line (it can be large), checking the header
 * against this run and folding records into the per-number state.
 */
async function readJournal(
  file: Deno.FsFile,
  path: string,
  expected: JournalHeader,
): Promise<ReadResult> {
  const previous = new Map<string, JournalState>();
  let lineNumber = 0;
  let createdAt: string | undefined;
  let current: HeaderRecord | undefined;
  let records = 0;

  const apply = (line: string): void => {
    lineNumber++;
    if (line.trim() === "") return;
    const record = parseRecord(line);
    if (lineNumber === 1 || current === undefined) {
      current = checkHeader(record, path);
      createdAt = current.createdAt;
    } else if (record === undefined) {
      throw damaged(path, lineNumber);
    } else if (record.type === "header") {
      // A run of another sender or text took the journal over (see below): what the
      // replaced run left failed or pending starts over with it.
      current = checkHeader(record, path);
      createdAt = current.createdAt;
      for (const [to, state] of previous) {
        if (state.state === "failed" || state.state === "pending") previous.delete(to);
      }
    } else {
      fold(previous, record);
    }
    records++;
  };

  const read = await forEachLine(file, 0, apply, {
    // Our records are short: a megabyte without a newline is not ours, or is damage.
    maxLineChars: MAX_LINE_CHARS,
    tooLong: (number) => {
      if (createdAt === undefined) checkHeader(undefined, path);
      return damaged(path, number);
    },
  });
  const carry = read.tail;

  let tornLines = 0;
  let truncateTo: number | undefined;
  let needsNewline = false;
  if (carry !== "") {
    // A last line without its newline: a whole record whose "\n" was cut off, or torn.
    const headerStart = '{"type":"header"';
    if (parseRecord(carry) !== undefined) {
      apply(carry);
      needsNewline = true;
    } else if (
      createdAt === undefined && !carry.startsWith(headerStart) && !headerStart.startsWith(carry)
    ) {
      // Not a journal cut short while starting: never truncate someone else's file.
      apply(carry);
    } else {
      tornLines = 1;
      truncateTo = read.end;
    }
  }
  let replaced: JournalHeader | undefined;
  if (current !== undefined && !sameSend(current, expected)) {
    // Nothing accepted, nor possibly accepted: the earlier run's sender or text was refused
    // for everyone (a 422 about the request), and this run, with the fix, takes over.
    const mayHaveSent = [...previous.values()].some((state) =>
      state.state === "accepted" || state.state === "uncertain"
    );
    if (mayHaveSent) throw differentSend(current, path, expected);
    replaced = { from: current.from, textHash: current.textHash };
    previous.clear();
  }
  return { previous, createdAt, replaced, records, tornLines, truncateTo, needsNewline };
}

function sameSend(header: HeaderRecord, expected: JournalHeader): boolean {
  return header.from === expected.from && header.textHash === expected.textHash;
}

function damaged(path: string, lineNumber: number): JournalError {
  return new JournalError(
    "corrupt",
    path,
    `The journal ${path} is damaged: line ${lineNumber} is not a journal record. Move it ` +
      `aside and look at it; starting a new journal would resend what it recorded.`,
  );
}

/**
 * Why the journal file cannot be opened, as a {@linkcode JournalError} that names the
 * fix. A missing permission of Deno's own (`NotCapable`) is left as it is: its message
 * names the flag.
 */
function cannotOpen(path: string, error: unknown): unknown {
  if (error instanceof Deno.errors.NotCapable) return error;
  const message = error instanceof Error ? error.message : String(error);
  const why = error instanceof Deno.errors.NotFound
    ? "its directory does not exist"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : error instanceof Deno.errors.NotADirectory
    ? "a part of its path is not a directory"
    : /os error 30\b/.test(message)
    ? "the file system is read-only"
    : /os error 28\b/.test(message)
    ? "the disk is full"
    : message;
  return new JournalError(
    "cannot-open",
    path,
    `Cannot open the journal ${path}: ${why}. Pass --journal FILE in a directory you can ` +
      `write to (or --no-journal to keep none).`,
    { cause: error },
  );
}

/** Check that a record is a header this version can read, and return it. */
function checkHeader(record: JournalRecord | undefined, path: string): HeaderRecord {
  if (record === undefined || record.type !== "header") {
    throw new JournalError(
      "not-a-journal",
      path,
      `${path} is not a politely journal (its first line is not a journal header); ` +
        `use another --journal FILE.`,
    );
  }
  if (record.version !== VERSION) {
    throw new JournalError(
      "unsupported-version",
      path,
      `The journal ${path} has format version ${record.version}, which this version of ` +
        `politely cannot read. Use another --journal FILE.`,
    );
  }
  return record;
}

/** A journal of another send that may have sent something: it is not mixed in. */
function differentSend(
  record: HeaderRecord,
  path: string,
  expected: JournalHeader,
): JournalError {
  const fix = `Use another --journal FILE, or delete ${path} to start over.`;
  if (record.from !== expected.from) {
    return new JournalError(
      "different-sender",
      path,
      `The journal ${path} belongs to a send from ${JSON.stringify(record.from)} (started ` +
        `${record.createdAt}), not from ${JSON.stringify(expected.from)}; resuming it would ` +
        `mix two sends. ${fix}`,
    );
  }
  return new JournalError(
    "different-text",
    path,
    `The journal ${path} belongs to a send of a different message text (started ` +
      `${record.createdAt}); resuming it would mix two sends. ${fix}`,
  );
}

/** Parse one line into a record, or `undefined` if it is not one. */
function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const isString = (key: string) => typeof record[key] === "string";
  switch (record.type) {
    case "header":
      return typeof record.version === "number" && isString("from") && isString("textHash") &&
          isString("createdAt")
        ? record as JournalRecord
        : undefined;
    case "sending":
      return isString("to") &&
          (record.attempt === undefined || typeof record.attempt === "number") &&
          (record.ref === undefined || isString("ref"))
        ? record as JournalRecord
        : undefined;
    case "accepted":
      return isString("to") && isString("messageUuid") ? record as JournalRecord : undefined;
    case "failed":
    case "uncertain":
    case "released":
      return isString("to") && isString("reason") ? record as JournalRecord : undefined;
    default:
      return undefined;
  }
}

/** Apply one record to the per-number state. An acceptance is final whatever follows. */
function fold(previous: Map<string, JournalState>, record: JournalRecord): void {
  if (record.type === "header") return;
  const before = previous.get(record.to);
  const attempts = before?.attempts ?? 0;
  if (before?.state === "accepted") {
    if (record.type === "sending") previous.set(record.to, { ...before, attempts: attempts + 1 });
    return;
  }
  switch (record.type) {
    case "sending":
      previous.set(record.to, { state: "uncertain", reason: INTERRUPTED, attempts: attempts + 1 });
      return;
    case "accepted":
      previous.set(record.to, { state: "accepted", messageUuid: record.messageUuid, attempts });
      return;
    case "failed":
      previous.set(record.to, { state: "failed", reason: record.reason, attempts });
      return;
    case "uncertain":
      previous.set(record.to, { state: "uncertain", reason: record.reason, attempts });
      return;
    case "released":
      previous.set(record.to, { state: "pending", reason: record.reason, attempts });
      return;
  }
}
