/**
 * How long `main.ts report` takes, and how much memory it holds, for a large campaign:
 * a journal of N accepted messages written by the real `Journal`, and 2 × N receipts
 * (`submitted` and a final status, 5% undeliverable) written by the real `ReceiptsFile`,
 * then `makeDeliveryReport()` timed and its process's resident memory read.
 *
 *   deno run -A bench/delivery_report.ts [--messages 100000]
 */

import { benchFlags } from "./flags.ts";
import { makeDeliveryReport } from "../lib/receipts/delivery_report.ts";
import { receiptKey, ReceiptsFile } from "../lib/receipts/receipts_file.ts";
import { receiptsPathFor } from "../lib/receipts/receipts_app.ts";
import { hashMessageText, Journal } from "../lib/send/journal.ts";

const { messages: count } = benchFlags({ messages: 100000 });
const dir = await Deno.makeTempDir({ prefix: "politely-report-bench-" });
const journalPath = `${dir}/people.csv.journal.jsonl`;
const BATCH = 2_000;

try {
  const writeStart = performance.now();
  const journal = await Journal.open(journalPath, {
    from: "Acme",
    textHash: await hashMessageText("Hi"),
  });
  const receipts = await ReceiptsFile.open(receiptsPathFor(journalPath));
  for (let first = 0; first < count; first += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - first) }, (_, i) => ({
      to: `1415${String(first + i).padStart(7, "0")}`,
      uuid: crypto.randomUUID(),
      undeliverable: (first + i) % 20 === 0,
    }));
    await Promise.all(batch.map(({ to }) => journal.sending(to, 1)));
    await Promise.all(batch.map(({ to, uuid }) => journal.accepted(to, uuid)));
    await Promise.all(batch.flatMap(({ to, uuid, undeliverable }) =>
      [
        ["submitted", "2026-12-01T12:00:01.000Z"],
        [undeliverable ? "undeliverable" : "delivered", "2026-12-01T12:00:02.000Z"],
      ].map(([status, timestamp]) => {
        const body = {
          message_uuid: uuid,
          to,
          timestamp,
          status,
          channel: "sms",
          ...(status === "submitted" ? { usage: { currency: "EUR", price: "0.0333" } } : {}),
          ...(status === "undeliverable" ? { error: { title: "1100" } } : {}),
        };
        return receipts.record({
          key: receiptKey({ messageUuid: uuid, status: status!, timestamp: timestamp! }),
          jti: crypto.randomUUID(),
          issuedAtMs: Date.now(),
          body,
        });
      })
    ));
  }
  await journal.close();
  await receipts.close();
  const writeMs = performance.now() - writeStart;
  const bytes = (await Deno.stat(journalPath)).size +
    (await Deno.stat(receiptsPathFor(journalPath))).size;

  const rssBefore = Deno.memoryUsage().rss;
  const start = performance.now();
  const report = await makeDeliveryReport(journalPath);
  const reportMs = performance.now() - start;
  const rssAfter = Deno.memoryUsage().rss;
  console.log(
    `${count} messages, ${report.receipts} receipts, ${(bytes / 1e6).toFixed(0)} MB on disk ` +
      `(written in ${(writeMs / 1000).toFixed(1)} s)`,
  );
  console.log(
    `report: ${reportMs.toFixed(0)} ms, resident memory ${(rssBefore / 1e6).toFixed(0)} → ` +
      `${(rssAfter / 1e6).toFixed(0)} MB; ${report.delivered} delivered, ` +
      `${report.undeliverable} undeliverable, ${report.prices.EUR} EUR`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
