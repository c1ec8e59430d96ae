/**
 * Naive against polite, on a real socket: 200 messages to the mock Vonage Messages API
 * limited to 20/s (burst 2), sent
 *
 * - naively, the article's way: every message at once (no pacing, concurrency 200), each
 *   429 retried after U(0, base·2ⁿ) with base 1 s (exponential backoff, full jitter);
 * - politely with the library: `runSendJob` paced by a `TokenBucket` at 20/s;
 * - politely with the CLI: `main.ts send --rate 20` in its own process, journal on.
 *
 * For each: elapsed time against the ideal (N − B)/R, requests made and 429s, the most
 * requests the mock saw in one second of its clock, and what it accepted (each number must
 * be accepted exactly once).
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env --allow-run \
 *     bench/send_pacing.ts [--messages 200] [--rate 20] [--burst 2] [--seed 1] [--cap 60]
 *
 * Bounded: the naive run's backoff is capped at `--cap` seconds (the article set no cap,
 * only a 300 s budget per message), so the whole bench takes about a minute.
 */

import { benchFlags } from "./flags.ts";
import { Journal } from "../lib/send/journal.ts";
import type { Limiter } from "../lib/core/limiter.ts";
import type { Recipient } from "../lib/send/recipients.ts";
import { createRandom } from "../lib/core/seeded_random.ts";
import { runSendJob } from "../lib/send/send_job.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import { createVonageClient } from "../lib/vonage/mod.ts";
import {
  FROM,
  numbers,
  runSend,
  serveTestMock,
  tempDir,
  TEST_APPLICATION_ID,
  TEST_PRIVATE_KEY,
  writeList,
} from "../tests/support/send_cli.ts";

const TEXT = "Hello from the pacing bench";

const flags = benchFlags({ messages: 200, rate: 20, burst: 2, seed: 1, cap: 60 });
const { messages, burst, seed } = flags;
const ratePerSecond = flags.rate;
const capMs = flags.cap * 1000;
const idealMs = (messages - burst) / ratePerSecond * 1000;

const list = numbers(messages);

interface Row {
  mode: string;
  accepted: number;
  attempts: number;
  throttled: number;
  elapsedMs: number;
  serverAccepted: number;
  serverDistinct: number;
  serverThrottled: number;
  busiestSecond: number;
}

async function withMock(
  mode: string,
  send: (url: string) => Promise<Omit<Row, `server${string}` | "mode" | "busiestSecond">>,
): Promise<Row> {
  await using server = await serveTestMock({ ratePerSecond, burst });
  const sent = await send(server.url);
  const stats = server.stats();
  return {
    mode,
    ...sent,
    serverAccepted: stats.accepted,
    serverDistinct: new Set(server.messages().map((message) => message.to)).size,
    serverThrottled: stats.throttled,
    busiestSecond: Math.max(...stats.perSecond.map((second) => second.arrivals)),
  };
}

function sendWithLibrary(url: string, polite: boolean) {
  const client = createVonageClient({
    applicationId: TEST_APPLICATION_ID,
    privateKey: TEST_PRIVATE_KEY,
    baseUrl: url,
  });
  const unpaced: Limiter = {
    ratePerSecond: Infinity,
    burst: Infinity,
    take: () => Promise.resolve(),
  };
  const recipients: Recipient[] = list.map((to, i) => ({ line: i + 1, to }));
  return runSendJob(recipients, {
    sendSms: (message, options) => client.sendSms(message, options),
    limiter: polite ? new TokenBucket({ ratePerSecond }) : unpaced,
    from: FROM,
    text: TEXT,
    journal: Journal.none(),
    concurrency: polite ? 16 : messages,
    backoff: polite ? {} : { strategy: "exponential", jitter: "full", baseMs: 1000, capMs },
    paceDepartures: polite,
    random: createRandom(seed),
  });
}

async function sendWithCli(url: string) {
  await using dir = await tempDir("politely-bench-");
  const file = await writeList(`${dir.path}/recipients.txt`, list);
  const run = await runSend(file, url, ["--rate", String(ratePerSecond)], { text: TEXT });
  if (run.summary === undefined) throw new Error(`main.ts send failed: ${run.stderr}`);
  return run.summary;
}

console.error(
  `${messages} messages, mock limit ${ratePerSecond}/s burst ${burst}; ideal ` +
    `(N - B)/R = ${(idealMs / 1000).toFixed(2)} s`,
);
const rows: Row[] = [];
console.error("naive (no pacing, expo full jitter base 1 s) ...");
rows.push(await withMock("naive (article)", (url) => sendWithLibrary(url, false)));
console.error("polite library (runSendJob + TokenBucket) ...");
rows.push(await withMock("polite (runSendJob)", (url) => sendWithLibrary(url, true)));
console.error("polite CLI (main.ts send --rate) ...");
rows.push(await withMock("polite (main.ts send)", sendWithCli));

const table = [
  ["mode", "accepted", "requests", "429s", "elapsed", "÷ ideal", "peak req/s", "mock: once each"],
  ...rows.map((row) => [
    row.mode,
    `${row.accepted}/${messages}`,
    String(row.attempts),
    String(row.throttled),
    `${(row.elapsedMs / 1000).toFixed(2)} s`,
    `${(row.elapsedMs / idealMs).toFixed(3)}×`,
    String(row.busiestSecond),
    row.serverAccepted === messages && row.serverDistinct === messages ? "yes" : "NO",
  ]),
];
const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
console.log(
  table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n"),
);
const [naive, library, cli] = rows as [Row, Row, Row];
console.log(
  `\nnaive ÷ polite: ${(naive.elapsedMs / library.elapsedMs).toFixed(1)}× the time, ` +
    `${(naive.attempts / library.attempts).toFixed(1)}× the requests ` +
    `(${naive.throttled} against ${library.throttled} and ${cli.throttled} 429s).`,
);
const goal = (row: Row) => row.elapsedMs <= 1.03 * idealMs && row.throttled === 0;
console.log(
  `goal (polite ≤ 1.03 × ideal, zero 429s): library ${goal(library) ? "met" : "MISSED"}, ` +
    `CLI ${goal(cli) ? "met" : "MISSED"}.`,
);
