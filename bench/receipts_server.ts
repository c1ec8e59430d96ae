/**
 * How many signed status webhooks per second the receipts server verifies, writes
 * (fsynced, group-committed) and answers over loopback, with `--connections` clients
 * posting `--webhooks` distinct receipts (signed beforehand, so only the server is timed).
 *
 *   deno run -A bench/receipts_server.ts [--webhooks 20000] [--connections 64]
 */

import { benchFlags } from "./flags.ts";
import { serveReceipts } from "../lib/receipts/serve_receipts.ts";
import { readReceipts } from "../lib/receipts/receipts_file.ts";
import { signWebhookBody } from "../lib/vonage/webhook_signature.ts";

const { webhooks: total, connections } = benchFlags({ webhooks: 20000, connections: 64 });
const SECRET = "bench-signature-secret";
const dir = await Deno.makeTempDir({ prefix: "politely-receipts-bench-" });
const journal = `${dir}/people.csv.journal.jsonl`;

try {
  const signed = await Promise.all(Array.from({ length: total }, async (_, i) => {
    const body = JSON.stringify({
      message_uuid: crypto.randomUUID(),
      to: `1415${String(i).padStart(7, "0")}`,
      timestamp: new Date().toISOString(),
      status: "delivered",
      usage: { currency: "EUR", price: "0.0333" },
    });
    return { body, token: await signWebhookBody(body, SECRET) };
  }));
  await using server = await serveReceipts({ journals: [journal], signatureSecret: SECRET });
  let next = 0;
  const statuses = new Map<number, number>();
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < total) {
      const { body, token } = signed[next++]!;
      const response = await fetch(`${server.url}/webhooks/status`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      await response.body?.cancel();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await server.shutdown();
  const stored = await readReceipts(`${journal}.receipts.jsonl`);
  console.log(
    `${total} webhooks over ${connections} connections in ${seconds.toFixed(2)} s: ` +
      `${(total / seconds).toFixed(0)}/s; answers ${
        JSON.stringify(Object.fromEntries(statuses))
      }; ` +
      `${stored.length} receipts on disk`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
