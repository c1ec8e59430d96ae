/**
 * Delivery receipts: a server for Vonage's signed status webhooks that writes each
 * verified receipt, once and durably, beside its campaign's journal, and the report
 * that joins journal and receipts into delivered / rejected / undeliverable / waiting,
 * reasons and prices.
 *
 * @example Serving receipts for one campaign, then reporting
 * ```ts ignore
 * import { makeDeliveryReport, serveReceipts } from "./mod.ts";
 *
 * await using server = await serveReceipts({
 *   journals: ["people.csv.journal.jsonl"],
 *   signatureSecret: Deno.env.get("VONAGE_SIGNATURE_SECRET")!,
 *   port: 8788,
 * });
 * // … later, even while receipts keep arriving:
 * const report = await makeDeliveryReport("people.csv.journal.jsonl");
 * console.log(`${report.delivered} of ${report.accepted} delivered`);
 * ```
 *
 * @module
 */

export {
  createReceiptsApp,
  type ReceiptsApp,
  type ReceiptsAppOptions,
  receiptsPathFor,
  type ReceiptsStats,
  unmatchedPathFor,
} from "./receipts_app.ts";
export { type ReceiptsServer, serveReceipts, type ServeReceiptsOptions } from "./serve_receipts.ts";
export {
  type DeliveryReport,
  formatDeliveryReport,
  makeDeliveryReport,
} from "./delivery_report.ts";
export {
  readReceipts,
  type ReceiptEntry,
  receiptKey,
  ReceiptsFile,
  ReceiptsFileError,
  type ReceiptsFileOptions,
  type StoredReceipt,
} from "./receipts_file.ts";
export { type JournalNumber, JournalReader } from "./journal_reader.ts";
export {
  FINAL_STATUSES,
  type ParsedReceipt,
  parseStatusReceipt,
  type StatusReceipt,
} from "./status_receipt.ts";
export type { Clock } from "../core/clock.ts";
