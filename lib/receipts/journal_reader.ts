/**
 * Reading a campaign's journal from the side, without its lock, while `send` may still be
 * appending to it: only whole lines are read, and {@linkcode JournalReader.refresh} picks
 * up from where the last read stopped. What it keeps is what receipts are matched
 * against: each number's last state and the `message_uuid`s Vonage accepted.
 *
 * @module
 */

import { campaignTag, parseClientRef } from "../send/client_ref.ts";
import { forEachLine } from "../send/json_lines.ts";

/**
 * A number's state as the journal tells it (the same folding `send` does on resume).
 *
 * @example Counting accepted numbers
 * ```ts
 * import type { JournalNumber } from "./journal_reader.ts";
 *
 * const states: JournalNumber[] = [{ state: "accepted", messageUuid: "m-1" }, { state: "failed" }];
 * console.log(states.filter((s) => s.state === "accepted").length); // 1
 * ```
 */
export interface JournalNumber {
  /** `accepted` (with its id), `failed`, `uncertain` (maybe accepted) or `pending`. */
  state: "accepted" | "failed" | "uncertain" | "pending";
  /** For `accepted`: the id Vonage answered with. */
  messageUuid?: string;
}

/**
 * A journal read from outside: `numbers` and `byUuid` grow with each
 * {@linkcode JournalReader.refresh}.
 *
 * @example Finding the number a receipt is about
 * ```ts
 * import { JournalReader } from "./journal_reader.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, [
 *   '{"type":"header","version":1,"from":"Acme","textHash":"sha256:00","createdAt":"2026-12-01T12:00:00.000Z"}',
 *   '{"type":"sending","to":"14155550100","attempt":1,"at":"2026-12-01T12:00:00.000Z"}',
 *   '{"type":"accepted","to":"14155550100","messageUuid":"m-1","at":"2026-12-01T12:00:00.100Z"}',
 *   "",
 * ].join("\n"));
 * const reader = await JournalReader.open(path);
 * console.log(reader.byUuid.get("m-1")); // 14155550100
 * await Deno.remove(path);
 * ```
 */
export class JournalReader {
  /** The journal file. */
  readonly path: string;
  /** Per number, its last state. */
  readonly numbers: Map<string, JournalNumber> = new Map();
  /** Every accepted `message_uuid`, to the number it went to. */
  readonly byUuid: Map<string, string> = new Map();
  /** Every `client_ref` a recipient brought (a `client_ref` column), to its number. */
  readonly byRef: Map<string, string> = new Map();
  /** The campaign tag of the `client_ref`s `send` sets, once the header is read. */
  tag: string | undefined;
  #offset = 0;
  #lineNumber = 0;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Read the journal at `path` so far. A journal that does not exist yet (the receipts
   * server may start before `send`) reads as empty until it appears.
   *
   * @throws an `Error` naming the line if the file is not a politely journal.
   */
  static async open(path: string): Promise<JournalReader> {
    const reader = new JournalReader(path);
    await reader.refresh();
    return reader;
  }

  /** Read the lines appended since the last read; resolves to how many were read. */
  async refresh(): Promise<number> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.path, { read: true });
    } catch (error: unknown) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
    using _file = file;
    const read = await forEachLine(file, this.#offset, (line) => this.#apply(line));
    this.#offset = read.end;
    return read.lines;
  }

  /**
   * The number a receipt is about: by its `message_uuid`, else by its `client_ref`: one the
   * recipient brought (kept in its `sending` line), or one `send` made for this campaign
   * (`pl1-TAG-TO`). The `client_ref` finds a message whose answer was lost, too.
   */
  numberOf(receipt: { messageUuid: string; clientRef?: string }): string | undefined {
    const byUuid = this.byUuid.get(receipt.messageUuid);
    if (byUuid !== undefined) return byUuid;
    if (receipt.clientRef === undefined) return undefined;
    const own = this.byRef.get(receipt.clientRef);
    if (own !== undefined) return own;
    const ref = parseClientRef(receipt.clientRef);
    return ref !== undefined && ref.tag === this.tag && this.numbers.has(ref.to)
      ? ref.to
      : undefined;
  }

  async #apply(line: string): Promise<void> {
    this.#lineNumber++;
    if (line.trim() === "") return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      throw this.#notJournal();
    }
    if (this.#lineNumber === 1 || record.type === "header") {
      const { type, from, textHash, createdAt } = record;
      if (
        type !== "header" || typeof from !== "string" || typeof textHash !== "string" ||
        typeof createdAt !== "string"
      ) {
        throw this.#notJournal();
      }
      // A later header: a run of a fixed sender or text took over a journal that had sent
      // nothing (see Journal.open); its client_refs carry the new tag, and what the
      // replaced run left failed or pending starts over.
      this.tag = await campaignTag({ from, textHash, createdAt });
      for (const [to, number] of this.numbers) {
        if (number.state === "failed" || number.state === "pending") this.numbers.delete(to);
      }
      for (const [ref, to] of this.byRef) if (!this.numbers.has(to)) this.byRef.delete(ref);
      return;
    }
    const to = record.to;
    if (typeof to !== "string") throw this.#notJournal();
    const before = this.numbers.get(to);
    if (before?.state === "accepted") return; // an acceptance is final whatever follows
    switch (record.type) {
      case "sending":
        if (typeof record.ref === "string") this.byRef.set(record.ref, to);
        this.numbers.set(to, { state: "uncertain" });
        return;
      case "uncertain":
        this.numbers.set(to, { state: "uncertain" });
        return;
      case "accepted":
        if (typeof record.messageUuid !== "string") throw this.#notJournal();
        this.numbers.set(to, { state: "accepted", messageUuid: record.messageUuid });
        this.byUuid.set(record.messageUuid, to);
        return;
      case "failed":
        this.numbers.set(to, { state: "failed" });
        return;
      case "released":
        this.numbers.set(to, { state: "pending" });
        return;
      default:
        throw this.#notJournal();
    }
  }

  #notJournal(): Error {
    return new Error(
      `${this.path}:${this.#lineNumber} is not a politely journal record; pass the journal ` +
        `that 'main.ts send' wrote (RECIPIENTS.journal.jsonl by default)`,
    );
  }
}
