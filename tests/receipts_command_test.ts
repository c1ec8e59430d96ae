import assert from "node:assert/strict";
import { runReceiptsCommand } from "../lib/cli/receipts_command.ts";
import { runReportCommand } from "../lib/cli/report_command.ts";
import { hashMessageText, Journal } from "../lib/send/journal.ts";
import { signWebhookBody } from "../lib/vonage/webhook_signature.ts";
import { type MainRun, runMain as runMainIn, tempDir } from "./support/send_cli.ts";

/** `main.ts ARGS…` to completion, with no signature secret inherited unless `env` gives one. */
function runMain(args: string[], env: Record<string, string> = {}): Promise<MainRun> {
  return runMainIn(args, { env: { VONAGE_SIGNATURE_SECRET: "", ...env } });
}

Deno.test("main.ts receipts and report: setup mistakes exit 2 with what, where and the fix", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/people.csv.journal.jsonl`;

  const noJournal = await runMain(["receipts", "--signature-secret", "s"]);
  assert.equal(noJournal.code, 2);
  assert.match(noJournal.stderr, /name the journal of each campaign/);

  const noSecret = await runMain(["receipts", journal]);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /no signature secret; set VONAGE_SIGNATURE_SECRET/);

  const noDirectory = await runMain(["receipts", `${dir.path}/nowhere/x.journal.jsonl`], {
    VONAGE_SIGNATURE_SECRET: "s",
  });
  assert.equal(noDirectory.code, 2);
  assert.match(noDirectory.stderr, /the directory of each journal must exist/);

  const missing = await runMain(["report", journal]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /there is no journal .*people\.csv\.journal\.jsonl; pass the file/);

  await Deno.writeTextFile(`${dir.path}/notes.txt`, "hello\n");
  const notJournal = await runMain(["report", `${dir.path}/notes.txt`]);
  assert.equal(notJournal.code, 2);
  assert.match(notJournal.stderr, /notes\.txt:1 is not a politely journal record/);

  const mockWithoutSecret = await runMain(["mock", "--status-url", "http://127.0.0.1:1/"]);
  assert.equal(mockWithoutSecret.code, 2);
  assert.match(
    mockWithoutSecret.stderr,
    /--status-url is about status webhooks.*--signature-secret/,
  );
});

Deno.test("runReceiptsCommand() serves until stopped, writes a signed receipt beside the journal, and runReportCommand() counts it", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/people.csv.journal.jsonl`;
  {
    await using written = await Journal.open(journal, {
      from: "Acme",
      textHash: await hashMessageText("hi"),
    });
    await written.sending("14155550100", 1);
    await written.accepted("14155550100", "m-1");
  }
  const lines: string[] = [];
  const problems: string[] = [];
  const stop = new AbortController();
  const running = runReceiptsCommand(
    [journal, "--port", "0", "--signature-secret", "cli-secret"],
    {
      stdout: (line) => lines.push(line),
      stderr: (line) => problems.push(line),
      signal: stop.signal,
    },
  );
  while (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const url = /listening on (\S+)/.exec(lines[0]!)![1]!;
  const body = JSON.stringify({
    message_uuid: "m-1",
    to: "14155550100",
    timestamp: "2026-12-01T12:00:00.000Z",
    status: "delivered",
    usage: { currency: "EUR", price: "0.05" },
  });
  const post = async (authorization: string) => {
    const response = await fetch(`${url}/webhooks/status`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body,
    });
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await post(`Bearer ${await signWebhookBody(body, "cli-secret")}`), 200);
  assert.equal(await post(`Bearer ${await signWebhookBody(body, "wrong")}`), 401);
  stop.abort();
  assert.equal(await running, 0);
  assert.match(lines.at(-1)!, /stopped: 1 receipts written, 0 duplicates, 1 refused \(401\)/);
  assert.deepEqual(problems, [
    "receipts: refused a webhook (401): the signature does not match the signature secret",
  ]);

  const report: string[] = [];
  assert.equal(await runReportCommand([journal], (line) => report.push(line)), 0);
  assert.match(report[0]!, /accepted\s+1\n\s+delivered\s+1\s+100\.0%/);
  assert.match(report[0]!, /price:\s+0\.05 EUR/);
  const json: string[] = [];
  await runReportCommand([journal, "--json"], (line) => json.push(line));
  assert.equal(JSON.parse(json[0]!).delivered, 1);
});
