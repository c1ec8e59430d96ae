/**
 * The delivery part of `main.ts demo`: a receipts server on loopback, a journal in a
 * temporary directory for the polite run, and the mock's signed status webhooks (a seeded
 * share rejected or undeliverable) pointed at it, so the demo ends with delivery
 * figures. It needs to write the temporary files; without `--allow-write` the demo
 * skips it and says so.
 *
 * @module
 */

import { hashMessageText, Journal } from "../send/journal.ts";
import type { StatusWebhookOptions } from "../mock/status_webhooks.ts";
import { type DeliveryReport, makeDeliveryReport } from "../receipts/delivery_report.ts";
import { type ReceiptsServer, serveReceipts } from "../receipts/serve_receipts.ts";

/**
 * A running receipts setup for one demo send.
 *
 * @example Using it around a send
 * ```ts ignore
 * import { startDemoReceipts } from "./demo_receipts.ts";
 *
 * const receipts = await startDemoReceipts({ from: "Politely", text: "Hi", seed: 1 });
 * if (receipts) {
 *   // send with receipts.journal, serve the mock with receipts.webhooks, wait, then:
 *   console.log((await receipts.report()).delivered);
 *   await receipts.close();
 * }
 * ```
 */
export interface DemoReceipts {
  /** The journal the send writes (so receipts can be matched to it). */
  journal: Journal;
  /** The mock's `statusWebhooks` option: signed, to this receipts server. */
  webhooks: StatusWebhookOptions;
  /** The campaign's figures so far. */
  report(): Promise<DeliveryReport>;
  /** Stop the server, close the journal, remove the temporary files. */
  close(): Promise<void>;
}

/**
 * Start the receipts server and open the journal, or resolve to `undefined` when the
 * demo may not write files (no `--allow-write`).
 */
export async function startDemoReceipts(
  { from, text, seed }: { from: string; text: string; seed: number },
): Promise<DemoReceipts | undefined> {
  if (Deno.permissions.querySync({ name: "write" }).state !== "granted") return undefined;
  const directory = await Deno.makeTempDir({ prefix: "politely-demo-" });
  const path = `${directory}/demo.journal.jsonl`;
  let journal: Journal | undefined;
  let server: ReceiptsServer | undefined;
  try {
    journal = await Journal.open(path, { from, textHash: await hashMessageText(text) });
    const signatureSecret = crypto.randomUUID();
    server = await serveReceipts({ journals: [path], signatureSecret });
    const openJournal = journal;
    const openServer = server;
    return {
      journal,
      webhooks: {
        signatureSecret,
        url: `${server.url}/webhooks/status`,
        delayMs: 200,
        rejectedRate: 0.03,
        undeliverableRate: 0.05,
        retryBaseMs: 100,
        seed,
      },
      report: () => makeDeliveryReport(path),
      async close() {
        await openServer.shutdown();
        await openJournal.close();
        await Deno.remove(directory, { recursive: true });
      },
    };
  } catch (error: unknown) {
    await server?.shutdown();
    await journal?.close();
    await Deno.remove(directory, { recursive: true });
    throw error;
  }
}
