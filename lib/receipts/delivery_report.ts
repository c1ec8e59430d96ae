/**
 * A campaign's delivery figures: its journal (what Vonage accepted) joined with its
 * receipts (what became of each message), matched by `message_uuid` or by the `client_ref`
 * `send` sets. Each accepted recipient counts once: by its latest final receipt, or as
 * still waiting; each message's price once. Both files are read without locks, a chunk at
 * a time, so a report can be made while `send` and the receipts server are running.
 *
 * @module
 */

import { JournalReader } from "./journal_reader.ts";
import { forEachReceipt, receiptKey } from "./receipts_file.ts";
import { receiptsPathFor, unmatchedPathFor } from "./receipts_app.ts";
import { FINAL_STATUSES, type StatusReceipt } from "./status_receipt.ts";

/**
 * The figures of one campaign.
 *
 * @example Saying what share was delivered
 * ```ts
 * import type { DeliveryReport } from "./delivery_report.ts";
 *
 * function deliveredShare(report: DeliveryReport): number {
 *   return report.accepted === 0 ? 0 : report.delivered / report.accepted;
 * }
 * ```
 */
export interface DeliveryReport {
  /** The journal the report is about. */
  journal: string;
  /** The receipts files read (those that exist). */
  receiptsFiles: string[];
  /** Numbers in the journal. */
  numbers: number;
  /**
   * Numbers whose message Vonage accepted: `delivered + rejected + undeliverable + waiting`.
   * Each number counts once, by its latest final receipt.
   */
  accepted: number;
  /**
   * Of `accepted`, numbers the journal leaves uncertain (the 202 was lost) whose
   * `client_ref` came back in a receipt: Vonage did take them.
   */
  acceptedPerReceipt: number;
  /** Accepted, and delivered to the handset. */
  delivered: number;
  /** Accepted, then rejected (by Vonage or the carrier). */
  rejected: number;
  /** Accepted, then found undeliverable. */
  undeliverable: number;
  /** Accepted, with no final receipt yet (`submitted` or nothing). */
  waiting: number;
  /** Of `waiting`, those with a `submitted` receipt. */
  submitted: number;
  /** Numbers never accepted, by the journal's state. */
  notAccepted: { failed: number; uncertain: number; pending: number };
  /** Error reasons of rejected and undeliverable messages (`"1050 Number barred"`), counted. */
  errors: Record<string, number>;
  /** Total price by currency, as decimal strings (`{ "EUR": "9.99" }`). */
  prices: Record<string, string>;
  /** Receipts of this campaign read: its own file's, and the shared file's that match it. */
  receipts: number;
  /**
   * Messages with receipts in this campaign's receipts file that its journal does not know
   * (neither the `message_uuid` nor a `client_ref` of this campaign): kept, not counted.
   */
  unknownMessages: number;
}

/**
 * Make the report for the journal at `journalPath`, from its receipts file and the
 * `unmatched.receipts.jsonl` beside it (see {@linkcode receiptsPathFor}).
 *
 * @throws {Deno.errors.NotFound} if the journal does not exist; an `Error` naming the
 * file and line if a file is damaged.
 *
 * @example Reporting on a campaign
 * ```ts ignore
 * import { makeDeliveryReport } from "./delivery_report.ts";
 *
 * const report = await makeDeliveryReport("people.csv.journal.jsonl");
 * console.log(`${report.delivered} of ${report.accepted} delivered`);
 * ```
 */
export async function makeDeliveryReport(journalPath: string): Promise<DeliveryReport> {
  const own = receiptsPathFor(journalPath);
  const shared = unmatchedPathFor(journalPath);
  const files = [];
  for (const path of [own, shared]) {
    if (await exists(path)) files.push(path);
  }
  const journal = await JournalReader.open(journalPath);
  const folds = new Map<string, NumberFold>();
  // Receipts whose message the journal did not know yet (the webhook can overtake the
  // journal's write): tried again after one more read of the journal.
  let later: Array<{ receipt: StatusReceipt; fromOwn: boolean }> = [];
  let receipts = 0;
  const fold = (to: string, receipt: StatusReceipt, fromOwn: boolean): void => {
    if (!fromOwn) receipts++; // the own file's are all counted, matched or not
    foldReceipt(folds, to, receipt);
  };
  const take = (receipt: StatusReceipt, fromOwn: boolean): void => {
    const to = journal.numberOf(receipt);
    if (to === undefined) later.push({ receipt, fromOwn });
    else fold(to, receipt, fromOwn);
  };
  // The server writes a receipt to one file, but a retry after a restart may land in the
  // other: the shared file's keys (few) are kept so that the own file skips them.
  const sharedKeys = new Set<string>();
  await forEachReceipt(shared, ({ receipt }) => {
    sharedKeys.add(receiptKey(receipt));
    take(receipt, false);
  });
  await forEachReceipt(own, ({ receipt }) => {
    if (sharedKeys.has(receiptKey(receipt))) return;
    receipts++;
    take(receipt, true);
  });
  const unknown = new Set<string>();
  if (later.length > 0) {
    await journal.refresh();
    const retry = later;
    later = [];
    for (const { receipt, fromOwn } of retry) {
      const to = journal.numberOf(receipt);
      if (to !== undefined) fold(to, receipt, fromOwn);
      else if (fromOwn) unknown.add(receipt.messageUuid);
    }
  }

  const report: DeliveryReport = {
    journal: journalPath,
    receiptsFiles: files,
    numbers: journal.numbers.size,
    accepted: 0,
    acceptedPerReceipt: 0,
    delivered: 0,
    rejected: 0,
    undeliverable: 0,
    waiting: 0,
    submitted: 0,
    notAccepted: { failed: 0, uncertain: 0, pending: 0 },
    errors: {},
    prices: {},
    receipts,
    unknownMessages: unknown.size,
  };
  const totals = new Map<string, bigint>();
  for (const [to, state] of journal.numbers) {
    const fold = folds.get(to);
    if (state.state !== "accepted") {
      if (fold === undefined) {
        report.notAccepted[state.state]++;
        continue;
      }
      // A receipt proves Vonage took it, though the answer never reached the journal.
      report.acceptedPerReceipt++;
    }
    report.accepted++;
    const final = fold?.final;
    if (final === undefined) {
      report.waiting++;
      if (fold?.submitted) report.submitted++;
    } else {
      const status = final.status as "delivered" | "rejected" | "undeliverable";
      report[status]++;
      if (status !== "delivered") {
        const reason = final.error
          ? [final.error.code, final.error.detail].filter(Boolean).join(" ")
          : "no reason given";
        report.errors[reason] = (report.errors[reason] ?? 0) + 1;
      }
    }
    for (const { price } of fold?.prices.values() ?? []) {
      totals.set(price.currency, (totals.get(price.currency) ?? 0n) + toUnits(price.amount));
    }
  }
  for (const [currency, units] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    report.prices[currency] = fromUnits(units);
  }
  return report;
}

/** What the receipts of one number add up to; only this much is kept per number. */
interface NumberFold {
  /** The latest final receipt (by Vonage's timestamp). */
  final?: StatusReceipt;
  /** Whether a `submitted` receipt came. */
  submitted: boolean;
  /** Per message (a resent number may have two), its latest priced receipt. */
  prices: Map<string, StatusReceipt & { price: { currency: string; amount: string } }>;
}

function foldReceipt(folds: Map<string, NumberFold>, to: string, receipt: StatusReceipt): void {
  let fold = folds.get(to);
  if (fold === undefined) {
    fold = { submitted: false, prices: new Map() };
    folds.set(to, fold);
  }
  if (receipt.status === "submitted") fold.submitted = true;
  if (FINAL_STATUSES.has(receipt.status)) {
    if (fold.final === undefined || byTimestamp(fold.final, receipt) <= 0) fold.final = receipt;
  }
  if (receipt.price !== undefined) {
    const before = fold.prices.get(receipt.messageUuid);
    if (before === undefined || byTimestamp(before, receipt) <= 0) {
      fold.prices.set(receipt.messageUuid, { ...receipt, price: receipt.price });
    }
  }
}

/** Order by Vonage's timestamp; ISO 8601 in UTC sorts as text, anything else as a date. */
function byTimestamp(a: StatusReceipt, b: StatusReceipt): number {
  const ta = Date.parse(a.timestamp);
  const tb = Date.parse(b.timestamp);
  if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta - tb;
  // Same instant: a final status comes after `submitted`.
  return Number(FINAL_STATUSES.has(a.status)) - Number(FINAL_STATUSES.has(b.status));
}

/** Prices are summed exactly, in units of 10^-12, never as binary floats. */
const SCALE = 12;

function toUnits(amount: string): bigint {
  const [whole = "0", fraction = ""] = amount.split(".");
  return BigInt(whole) * 10n ** BigInt(SCALE) +
    BigInt((fraction + "0".repeat(SCALE)).slice(0, SCALE));
}

function fromUnits(units: bigint): string {
  const text = units.toString().padStart(SCALE + 1, "0");
  const whole = text.slice(0, -SCALE);
  const fraction = text.slice(-SCALE).replace(/0+$/, "").padEnd(2, "0");
  return `${whole}.${fraction}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error: unknown) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * The report as text for a terminal: outcomes with shares, reasons, prices.
 *
 * @example Printing a report
 * ```ts ignore
 * import { formatDeliveryReport, makeDeliveryReport } from "./delivery_report.ts";
 *
 * console.log(formatDeliveryReport(await makeDeliveryReport("people.csv.journal.jsonl")));
 * ```
 */
export function formatDeliveryReport(report: DeliveryReport): string {
  const share = (count: number) =>
    report.accepted === 0 ? "" : `  ${(100 * count / report.accepted).toFixed(1)}%`;
  const row = (label: string, count: number, withShare = true) =>
    `  ${label.padEnd(16)}${String(count).padStart(7)}${withShare ? share(count) : ""}`;
  const { failed, uncertain, pending } = report.notAccepted;
  const lines = [
    `${report.journal}: ${report.numbers} numbers`,
    row("accepted", report.accepted, false) +
    (report.acceptedPerReceipt > 0
      ? ` (${report.acceptedPerReceipt} known from receipts only: the journal has them uncertain)`
      : ""),
    row("  delivered", report.delivered),
    row("  rejected", report.rejected),
    row("  undeliverable", report.undeliverable),
    row("  still waiting", report.waiting) +
    (report.submitted > 0 ? ` (${report.submitted} submitted)` : ""),
    row("not accepted", failed + uncertain + pending, false) +
    ` (failed ${failed}, uncertain ${uncertain}, pending ${pending})`,
  ];
  const errors = Object.entries(report.errors).sort(([, a], [, b]) => b - a);
  if (errors.length > 0) {
    lines.push("  reasons:");
    for (const [reason, count] of errors) lines.push(`    ${String(count).padStart(6)}  ${reason}`);
  }
  const prices = Object.entries(report.prices);
  lines.push(
    `  price:          ${
      prices.length === 0
        ? "none reported yet"
        : prices.map(([currency, amount]) => `${amount} ${currency}`).join(", ")
    }`,
  );
  lines.push(
    `  receipts:       ${report.receipts} read from ${
      report.receiptsFiles.length === 0 ? "no file yet" : report.receiptsFiles.join(", ")
    }`,
  );
  if (report.unknownMessages > 0) {
    lines.push(
      `  ${report.unknownMessages} message(s) have receipts but are not in the journal ` +
        `(kept in the receipts file, not counted: another campaign's, or sent without politely's client_ref)`,
    );
  }
  return lines.join("\n");
}
