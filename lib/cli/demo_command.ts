/**
 * `main.ts demo`: the whole flow with no account and no files. A mock Vonage
 * Messages API runs in-process on a real loopback socket (limit 10/s, burst 2,
 * a key pair made in memory); the fixture recipients are sent twice, first the
 * article's way (no pacing, retry on 429 with exponential backoff and full
 * jitter) and then politely (a token bucket at the limit), and the two runs are
 * shown side by side. With `--allow-write`, the mock also posts signed delivery
 * receipts for the polite run to a local receipts server, and the demo ends with
 * the delivery figures.
 *
 * @module
 */

import { readRecipients, type Recipient } from "../send/recipients.ts";
import { Journal } from "../send/journal.ts";
import type { Limiter } from "../core/limiter.ts";
import { generateVonageKeyPair } from "../mock/key_pair.ts";
import { serveMockVonage } from "../mock/serve_mock_vonage.ts";
import { runSendJob, type SendJobResult } from "../send/send_job.ts";
import { createRandom } from "../core/seeded_random.ts";
import { TokenBucket } from "../core/token_bucket.ts";
import { createVonageClient } from "../vonage/client.ts";
import type { DeliveryReport } from "../receipts/delivery_report.ts";
import { formatDeliveryReport } from "../receipts/delivery_report.ts";
import { type DemoReceipts, startDemoReceipts } from "./demo_receipts.ts";
import { parseFlags, positiveInteger, positiveNumber } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";

const HELP = `Usage: main.ts demo [options]

Send the fixture recipients through an in-process mock of the Vonage Messages
API twice: the article's way (no pacing, retry each 429 with exponential backoff
and full jitter) and politely (paced by a token bucket), then compare. With
--allow-write, the mock then posts signed delivery receipts for the polite run
(a few rejected or undeliverable) to a local receipts server, and the demo ends
with the delivery figures ('main.ts report').

Options:
  --recipients FILE   recipients to send to (default: 60 fictional US numbers,
                      +1 202 555-0100 to -0159, as in fixtures/recipients.csv)
  --rate N            the mock's limit in requests per second (default 10)
  --burst N           the mock's burst (default 2)
  --seed N            seed of the retry jitter and of the delivery outcomes (default 1)
  --json              print both results as JSON on stdout
  -h, --help          this help

What changes from run to run: the naive row (requests, 429s, time). Its retry
delays come from the seed, but the mock's limit meets them in real time, so
whether a retry finds a free token turns on milliseconds of scheduling, and each
miss sets off a longer backoff. The polite row repeats but for milliseconds of
elapsed time (and so the last digit of its rate); the delivery figures repeat
exactly for a seed.
`;

const APPLICATION_ID = "politely-demo";
const FROM = "Politely";
const TEXT = "Hello from the politely demo";

/** What one run of the demo measured. */
export interface DemoRun {
  /** `"naive"` (the article's way) or `"polite"`. */
  mode: "naive" | "polite";
  /** What the sender counted. */
  result: SendJobResult;
  /** Messages the mock accepted: each recipient exactly once if all is well. */
  serverAccepted: number;
  /** Distinct numbers among them. */
  serverDistinct: number;
  /** 429s the mock answered. */
  serverThrottled: number;
  /** Milliseconds from the first send to the last answer. */
  elapsedMs: number;
  /** The fastest possible run at the mock's limit: (N − burst) / rate. */
  idealMs: number;
  /** For the polite run with `--allow-write`: what the delivery receipts said. */
  delivery?: DeliveryReport;
}

/**
 * The demo's recipients when no file is given: the 60 fictional US numbers of
 * `fixtures/recipients.csv` (+1 202 555-0100 to -0159, a range kept for fiction),
 * made here rather than read, so that the demo needs no file of the repository
 * when it runs by URL, installed, or from the published package.
 *
 * @example The first and the last
 * ```ts
 * import { demoRecipients } from "./demo_command.ts";
 *
 * const recipients = demoRecipients();
 * console.log(recipients[0], recipients.at(-1)); // { line: 2, to: "12025550100" } { line: 61, to: "12025550159" }
 * ```
 */
export function demoRecipients(): Recipient[] {
  return Array.from({ length: 60 }, (_, i) => ({
    line: i + 2,
    to: `120255501${String(i).padStart(2, "0")}`,
  }));
}

async function loadRecipients(path: string | undefined): Promise<Recipient[]> {
  if (path === undefined) return demoRecipients();
  const source = await Deno.open(path).then((file) => file.readable, (error: Error) => {
    throw new UsageError(`cannot read ${path}: ${error.message}`);
  });
  const recipients: Recipient[] = [];
  for await (const entry of readRecipients(source)) {
    if (entry.kind === "recipient") recipients.push(entry.recipient);
  }
  if (recipients.length === 0) throw new UsageError(`no recipients in ${path}`);
  return recipients;
}

async function runOnce(
  mode: DemoRun["mode"],
  recipients: Recipient[],
  keys: CryptoKeyPair,
  ratePerSecond: number,
  burst: number,
  seed: number,
  receipts?: DemoReceipts,
): Promise<DemoRun> {
  await using server = await serveMockVonage({
    publicKey: keys.publicKey,
    applicationId: APPLICATION_ID,
    ratePerSecond,
    burst,
    ...(receipts ? { statusWebhooks: receipts.webhooks } : {}),
  });
  const client = createVonageClient({
    applicationId: APPLICATION_ID,
    privateKey: keys.privateKey,
    baseUrl: server.url,
  });
  const unpaced: Limiter = {
    ratePerSecond: Infinity,
    burst: Infinity,
    take: () => Promise.resolve(),
  };
  const polite = mode === "polite";
  const result = await runSendJob(recipients, {
    sendSms: (message, options) => client.sendSms(message, options),
    limiter: polite ? new TokenBucket({ ratePerSecond }) : unpaced,
    from: FROM,
    text: TEXT,
    journal: receipts?.journal ?? Journal.none(),
    // The article queued every send at once and let Python `backoff` retry each
    // 429 after U(0, 2^n) seconds.
    concurrency: polite ? 16 : recipients.length,
    // The cap keeps the demo short; the article let delays grow without one.
    backoff: polite ? {} : { strategy: "exponential", jitter: "full", baseMs: 1000, capMs: 8000 },
    paceDepartures: polite,
    random: createRandom(seed),
  });
  const stats = server.stats();
  const messages = server.messages();
  await server.webhooksIdle();
  const delivery = receipts ? await receipts.report() : undefined;
  return {
    ...(delivery ? { delivery } : {}),
    mode,
    result,
    serverAccepted: stats.accepted,
    serverDistinct: new Set(messages.map((message) => message.to)).size,
    serverThrottled: stats.throttled,
    elapsedMs: result.elapsedMs,
    idealMs: Math.max(0, recipients.length - burst) / ratePerSecond * 1000,
  };
}

function table(runs: DemoRun[], ratePerSecond: number): string {
  const rows = [
    ["", "accepted", "attempts", "429s", "elapsed", "vs ideal", "achieved rate"],
    ...runs.map((run) => [
      run.mode === "naive" ? "naive (the article)" : "polite (politely)",
      `${run.result.accepted}/${run.result.total}`,
      String(run.result.attempts),
      String(run.result.throttled),
      `${(run.elapsedMs / 1000).toFixed(1)} s`,
      `${(run.elapsedMs / run.idealMs).toFixed(2)}×`,
      `${run.result.achievedRatePerSecond?.toFixed(1) ?? "–"}/s of ${ratePerSecond}/s`,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n");
}

/**
 * Run `main.ts demo`; resolves to the exit code (0 when both runs delivered
 * every message exactly once).
 *
 * @example Running the demo from code
 * ```ts ignore
 * import { runDemoCommand } from "./demo_command.ts";
 *
 * Deno.exitCode = await runDemoCommand([]);
 * ```
 */
export async function runDemoCommand(args: string[]): Promise<number> {
  const { values } = parseFlags("demo", args, {
    recipients: { type: "string" },
    rate: { type: "string" },
    burst: { type: "string" },
    seed: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const ratePerSecond = positiveNumber("rate", values.rate, 10);
  const burst = positiveInteger("burst", values.burst, 2);
  const seed = Number(values.seed ?? 1);
  if (!Number.isInteger(seed)) {
    throw new UsageError(`--seed must be an integer, got '${values.seed}'`);
  }
  const recipients = await loadRecipients(values.recipients);
  const keys = await generateVonageKeyPair();

  const say = (text: string) => {
    if (!values.json) console.error(text);
  };
  say(
    `mock Vonage Messages API on 127.0.0.1, limit ${ratePerSecond}/s (burst ${burst}); ` +
      `${recipients.length} recipients`,
  );
  say("1/2 naive: every message at once, each 429 retried after U(0, 2^n) s ...");
  const naive = await runOnce("naive", recipients, keys, ratePerSecond, burst, seed);
  say(`2/2 polite: paced at ${ratePerSecond}/s by a token bucket ...`);
  const receipts = await startDemoReceipts({ from: FROM, text: TEXT, seed });
  let polite: DemoRun;
  try {
    polite = await runOnce("polite", recipients, keys, ratePerSecond, burst, seed, receipts);
  } finally {
    await receipts?.close();
  }
  const runs = [naive, polite];
  const delivery = polite.delivery;

  if (values.json) {
    console.log(JSON.stringify({ ratePerSecond, burst, recipients: recipients.length, runs }));
  } else {
    console.log("\n" + table(runs, ratePerSecond) + "\n");
    console.log(
      `Ideal at ${ratePerSecond}/s: ${(polite.idealMs / 1000).toFixed(1)} s. ` +
        `The naive run made ${naive.result.attempts} requests for ${naive.result.accepted} ` +
        `messages (${naive.result.throttled} refused with 429); the polite run made ` +
        `${polite.result.attempts} with ${polite.result.throttled} refused.`,
    );
    console.log(
      "The naive row changes from run to run: its retry delays come from --seed, but they " +
        "meet the mock's limit in real time, so whether a retry finds a free token turns on " +
        "milliseconds. The polite row repeats but for milliseconds of elapsed time (and so the " +
        "last digit of its rate); the delivery figures repeat exactly for a seed.",
    );
  }
  const exactlyOnce = runs.every((run) =>
    run.serverAccepted === recipients.length && run.serverDistinct === recipients.length
  );
  if (!exactlyOnce) {
    console.error("demo: the mock did not receive every message exactly once; please report it");
  } else if (!values.json) {
    console.log(
      `The mock accepted each of the ${recipients.length} numbers exactly once in both runs.`,
    );
  }
  // Every accepted message of the polite run has its final receipt, counted once.
  const accounted = delivery === undefined || (
    delivery.accepted === recipients.length && delivery.waiting === 0 &&
    delivery.delivered + delivery.rejected + delivery.undeliverable === delivery.accepted
  );
  if (!values.json) {
    if (delivery === undefined) {
      console.log("(Run with --allow-write to see delivery receipts and their figures too.)");
    } else {
      console.log("\nDelivery receipts of the polite run (signed webhooks from the mock):");
      const shown = { ...delivery, journal: "polite run", receiptsFiles: ["a temporary file"] };
      console.log(formatDeliveryReport(shown));
    }
  }
  if (!accounted) {
    console.error("demo: the delivery receipts do not account for every message; please report it");
  }
  return exactlyOnce && accounted ? 0 : 1;
}
