/**
 * `main.ts report JOURNAL`: a campaign's delivery figures from its journal and receipts.
 *
 * @module
 */

import { formatDeliveryReport, makeDeliveryReport } from "../receipts/delivery_report.ts";
import { ReceiptsFileError } from "../receipts/receipts_file.ts";
import { parseFlags } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";

const HELP = `Usage: main.ts report JOURNAL [--json]

Counts what became of a campaign: the messages Vonage accepted (from the journal
'main.ts send' wrote), and of those how many were delivered, rejected,
undeliverable or are still waiting for a receipt (from JOURNAL.receipts.jsonl,
written by 'main.ts receipts'), the error reasons, and the total price by
currency. Safe to run while send and receipts are still running.

Options:
  --json       print the report as one JSON object
  -h, --help   show this help
`;

/**
 * Run `main.ts report`; resolves to 0.
 *
 * @throws {UsageError} for a missing or damaged journal or receipts file (exit 2).
 *
 * @example Reporting from code
 * ```ts ignore
 * import { runReportCommand } from "./report_command.ts";
 *
 * Deno.exitCode = await runReportCommand(["people.csv.journal.jsonl", "--json"]);
 * ```
 */
export async function runReportCommand(
  args: string[],
  stdout: (line: string) => void = console.log,
): Promise<number> {
  const { values, positionals } = parseFlags("report", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, { allowPositionals: true });
  if (values.help) {
    stdout(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `report: name one journal (e.g. people.csv.journal.jsonl), got ${positionals.length}; ` +
        `see 'main.ts report --help'`,
    );
  }
  const journal = positionals[0]!;
  try {
    await Deno.stat(journal);
  } catch (error: unknown) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `report: there is no journal ${journal}; pass the file 'main.ts send' wrote ` +
          `(RECIPIENTS.journal.jsonl beside the recipients, or its --journal FILE)`,
      );
    }
    throw error;
  }
  let report;
  try {
    report = await makeDeliveryReport(journal);
  } catch (error: unknown) {
    if (error instanceof ReceiptsFileError) throw new UsageError(error.message);
    if (error instanceof Error && /is not a politely journal/.test(error.message)) {
      throw new UsageError(error.message);
    }
    throw error;
  }
  stdout(values.json ? JSON.stringify(report) : formatDeliveryReport(report));
  return 0;
}
