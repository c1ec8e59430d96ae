/**
 * The receipts file beside a campaign's journal (`JOURNAL.receipts.jsonl`): append-only
 * JSON Lines, a header and then one line per receipt, fsynced in group commits before any
 * webhook is answered, under the receipts server's own lock (the journal stays `send`'s).
 * Format and crash behaviour: `docs/receipts.md`.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { forEachLine } from "../send/json_lines.ts";
import { GroupCommit } from "../send/group_commit.ts";
import { openOrCreate } from "../send/open_or_create.ts";
import { syncDirectory } from "../send/sync_directory.ts";
import { parseStatusReceipt, type StatusReceipt } from "./status_receipt.ts";

const VERSION = 1;

/**
 * The name a receipt is known by: message, status and the time Vonage gives it.
 *
 * @example Two deliveries of one webhook share a key
 * ```ts
 * import { receiptKey } from "./receipts_file.ts";
 *
 * const receipt = { messageUuid: "m-1", status: "delivered", timestamp: "2026-12-01T12:00:00Z" };
 * console.log(receiptKey(receipt)); // m-1 delivered 2026-12-01T12:00:00Z
 * ```
 */
export function receiptKey(
  receipt: Pick<StatusReceipt, "messageUuid" | "status" | "timestamp">,
): string {
  return `${receipt.messageUuid} ${receipt.status} ${receipt.timestamp}`;
}

/**
 * One receipt to write: the webhook body as it came, and the token it came with.
 *
 * @example A receipt entry
 * ```ts
 * import type { ReceiptEntry } from "./receipts_file.ts";
 *
 * const entry: ReceiptEntry = {
 *   key: "m-1 delivered 2026-12-01T12:00:00Z",
 *   jti: "3f1c…",
 *   issuedAtMs: Date.UTC(2026, 11, 1, 12),
 *   body: { message_uuid: "m-1", status: "delivered", timestamp: "2026-12-01T12:00:00Z" },
 * };
 * console.log(entry.key);
 * ```
 */
export interface ReceiptEntry {
  /** From {@linkcode receiptKey}. */
  key: string;
  /** The signing token's `jti`, kept so a replay is refused after a restart too. */
  jti: string;
  /** The signing token's `iat`, in epoch milliseconds. */
  issuedAtMs: number;
  /** The webhook body, parsed. */
  body: unknown;
}

/**
 * A receipts file that cannot be used. The message names the file and says what to do.
 *
 * @example Telling "in use" apart
 * ```ts
 * import { ReceiptsFileError } from "./receipts_file.ts";
 *
 * const error = new ReceiptsFileError("in-use", "a.receipts.jsonl", "in use");
 * console.log(error.code); // in-use
 * ```
 */
export class ReceiptsFileError extends Error {
  /** What is wrong. */
  readonly code: "in-use" | "not-receipts" | "corrupt" | "write-failed";
  /** The file. */
  readonly path: string;

  /** Create an error about the receipts file at `path`. */
  constructor(
    code: ReceiptsFileError["code"],
    path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ReceiptsFileError";
    this.code = code;
    this.path = path;
  }
}

/**
 * Options for {@linkcode ReceiptsFile.open}.
 *
 * @example Fixed timestamps in a test
 * ```ts
 * import type { ReceiptsFileOptions } from "./receipts_file.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 *
 * const options: ReceiptsFileOptions = { clock: new FakeClock(Date.UTC(2026, 11, 1)) };
 * console.log(options.clock?.now()); // 1796083200000
 * ```
 */
export interface ReceiptsFileOptions {
  /**
   * Where `createdAt` and `receivedAt` come from (epoch milliseconds).
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/**
 * The writing side of a receipts file: open it once per server, record each verified
 * webhook, answer the webhook only when {@linkcode ReceiptsFile.record} resolves.
 *
 * @example Recording a receipt twice, keeping it once
 * ```ts
 * import { receiptKey, ReceiptsFile } from "./receipts_file.ts";
 *
 * const path = `${await Deno.makeTempDir()}/a.receipts.jsonl`;
 * const file = await ReceiptsFile.open(path);
 * const body = { message_uuid: "m-1", status: "delivered", timestamp: "2026-12-01T12:00:00Z" };
 * const entry = { key: receiptKey({ messageUuid: "m-1", status: "delivered", timestamp: body.timestamp }), jti: "j-1", issuedAtMs: Date.now(), body };
 * console.log(await file.record(entry)); // recorded
 * console.log(await file.record({ ...entry, jti: "j-2" })); // duplicate
 * await file.close();
 * ```
 */
export class ReceiptsFile implements AsyncDisposable {
  /** The file. */
  readonly path: string;
  /** Receipts on disk when the file was opened. */
  readonly replayed: number;
  /** The `jti` and `iat` (epoch ms) of every token whose receipt is on disk. */
  readonly tokens: ReadonlyMap<string, number>;

  #file: Deno.FsFile;
  #keys: Set<string>;
  #inFlight = new Map<string, Promise<void>>();
  #writer: GroupCommit;
  #closed = false;
  #clock: Clock;

  private constructor(
    path: string,
    file: Deno.FsFile,
    keys: Set<string>,
    tokens: Map<string, number>,
    clock: Clock,
  ) {
    this.path = path;
    this.#clock = clock;
    this.#file = file;
    this.#writer = new GroupCommit(file, (error) => {
      const why = error instanceof Error ? error.message : String(error);
      // Once a write failed the end of the file is unknown: refuse everything after it.
      return new ReceiptsFileError(
        "write-failed",
        path,
        `Cannot write the receipts file ${path}: ${why}. Webhooks are answered 503 so ` +
          `that Vonage retries them; fix the disk and restart the receipts server.`,
        { cause: error },
      );
    });
    this.#keys = keys;
    this.tokens = tokens;
    this.replayed = keys.size;
  }

  /**
   * Open (or create, with its header made durable) the receipts file at `path`, holding
   * an exclusive lock until {@linkcode ReceiptsFile.close}: one server per campaign.
   *
   * @throws {ReceiptsFileError} when another server holds it, or it is not a receipts file.
   */
  static async open(path: string, options: ReceiptsFileOptions = {}): Promise<ReceiptsFile> {
    const { clock = realClock } = options;
    // It lists the numbers receipts came for: readable by its owner only.
    const { file, created } = await openOrCreate(path);
    try {
      if (!(await file.tryLock(true))) {
        throw new ReceiptsFileError(
          "in-use",
          path,
          `The receipts file ${path} is in use by another receipts server; stop that one, or ` +
            `serve each campaign from one server only.`,
        );
      }
      const keys = new Set<string>();
      const tokens = new Map<string, number>();
      let lineNumber = 0;
      let records = 0;
      const read = await forEachLine(file, 0, (line) => {
        lineNumber++;
        if (line.trim() === "") return;
        records++;
        const record = parseLine(line, path, lineNumber);
        if (record.type === "receipt") {
          keys.add(record.key);
          tokens.set(record.jti, record.iat * 1000);
        }
      });
      const receipts = new ReceiptsFile(path, file, keys, tokens, clock);
      // A torn tail was never acknowledged (the fsync comes first): Vonage sends it again.
      if (read.torn) await file.truncate(read.end);
      await file.seek(0, Deno.SeekMode.End);
      if (records === 0) {
        const header = { type: "receipts", version: VERSION, createdAt: iso(clock.now()) };
        await receipts.#append(JSON.stringify(header) + "\n");
      }
      if (created) await syncDirectory(path);
      return receipts;
    } catch (error: unknown) {
      file.close();
      throw error;
    }
  }

  /** Whether a receipt with this key is on disk (or on its way). */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /**
   * Write `entry` unless a receipt with its key is already written, and resolve once it
   * is durable: `"recorded"`, or `"duplicate"` (resolved only once the first copy is
   * durable, so either answer means "on disk"). Rejects with a
   * {@linkcode ReceiptsFileError} if the write fails; answer the webhook 5xx then.
   */
  async record(entry: ReceiptEntry): Promise<"recorded" | "duplicate"> {
    const pending = this.#inFlight.get(entry.key);
    if (pending !== undefined) {
      await pending;
      return "duplicate";
    }
    if (this.#keys.has(entry.key)) return "duplicate";
    const line = JSON.stringify({
      type: "receipt",
      key: entry.key,
      jti: entry.jti,
      iat: Math.floor(entry.issuedAtMs / 1000),
      receivedAt: iso(this.#clock.now()),
      body: entry.body,
    }) + "\n";
    const written = this.#append(line);
    this.#inFlight.set(entry.key, written);
    try {
      await written;
      this.#keys.add(entry.key);
      return "recorded";
    } finally {
      this.#inFlight.delete(entry.key);
    }
  }

  /** Finish writing, then close the file (releasing the lock). Calling it again does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#writer.settled();
    } finally {
      this.#closed = true;
      this.#file.close();
    }
  }

  /** Same as {@linkcode ReceiptsFile.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #append(text: string): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error(`Cannot write ${this.path}: the receipts file is closed`));
    }
    return this.#writer.append(text);
  }
}

/**
 * A receipt read back from a receipts file.
 *
 * @example What a stored receipt holds
 * ```ts
 * import type { StoredReceipt } from "./receipts_file.ts";
 *
 * const stored: StoredReceipt = {
 *   receipt: { messageUuid: "m-1", status: "delivered", timestamp: "2026-12-01T12:00:00Z" },
 *   receivedAt: "2026-12-01T12:00:01.000Z",
 * };
 * console.log(stored.receipt.status); // delivered
 * ```
 */
export interface StoredReceipt {
  /** The receipt. */
  receipt: StatusReceipt;
  /** When the receipts server wrote it (ISO 8601). */
  receivedAt: string;
}

/**
 * Read every receipt in a receipts file without locking it, so while a server keeps
 * appending: a last line still being written is skipped. A file that does not exist
 * reads as no receipts.
 *
 * @throws {ReceiptsFileError} when the file is not a receipts file or a line before the
 * last is damaged (naming the line).
 *
 * @example Reading what a server wrote
 * ```ts
 * import { readReceipts } from "./receipts_file.ts";
 *
 * const receipts = await readReceipts("no-such-file.receipts.jsonl");
 * console.log(receipts.length); // 0
 * ```
 */
export async function readReceipts(path: string): Promise<StoredReceipt[]> {
  const stored: StoredReceipt[] = [];
  await forEachReceipt(path, (receipt) => void stored.push(receipt));
  return stored;
}

/**
 * Like {@linkcode readReceipts}, one receipt at a time, so memory stays flat for a file
 * of any length.
 *
 * @example Counting delivered receipts
 * ```ts
 * import { forEachReceipt } from "./receipts_file.ts";
 *
 * let delivered = 0;
 * await forEachReceipt("no-such-file.receipts.jsonl", ({ receipt }) => {
 *   if (receipt.status === "delivered") delivered++;
 * });
 * console.log(delivered); // 0
 * ```
 */
export async function forEachReceipt(
  path: string,
  onReceipt: (stored: StoredReceipt) => void,
): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error: unknown) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  using _file = file;
  let lineNumber = 0;
  await forEachLine(file, 0, (line) => {
    lineNumber++;
    if (line.trim() === "") return;
    const record = parseLine(line, path, lineNumber);
    if (record.type !== "receipt") return;
    const parsed = parseStatusReceipt(record.body);
    if (!parsed.ok) throw damaged(path, lineNumber);
    onReceipt({ receipt: parsed.receipt, receivedAt: record.receivedAt });
  });
}

type FileRecord =
  | { type: "receipts"; version: number }
  | { type: "receipt"; key: string; jti: string; iat: number; receivedAt: string; body: unknown };

function parseLine(line: string, path: string, lineNumber: number): FileRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = undefined;
  }
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  if (lineNumber === 1) {
    if (record.type !== "receipts") {
      throw new ReceiptsFileError(
        "not-receipts",
        path,
        `${path} is not a politely receipts file (its first line is not a receipts header); ` +
          `move it aside or serve the campaign's journal from another directory.`,
      );
    }
    if (record.version !== VERSION) {
      throw new ReceiptsFileError(
        "not-receipts",
        path,
        `The receipts file ${path} has format version ${record.version}, which this version ` +
          `of politely cannot read.`,
      );
    }
    return record as FileRecord;
  }
  if (
    record.type !== "receipt" || typeof record.key !== "string" ||
    typeof record.jti !== "string" || typeof record.iat !== "number" ||
    typeof record.receivedAt !== "string"
  ) {
    throw damaged(path, lineNumber);
  }
  return record as FileRecord;
}

function damaged(path: string, lineNumber: number): ReceiptsFileError {
  return new ReceiptsFileError(
    "corrupt",
    path,
    `The receipts file ${path} is damaged: line ${lineNumber} is not a receipt. Move it aside ` +
      `and look at it; receipts in it would otherwise be lost.`,
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
