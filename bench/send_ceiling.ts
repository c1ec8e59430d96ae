/**
 * How fast `main.ts send` can go when nothing holds it back, and how much memory it needs:
 * the mock Vonage Messages API with no rate limit (in this process), and the real CLI in
 * its own process with `--rate 100000 --concurrency 64`, journal off and on.
 *
 * Peak memory is the child's peak resident set (`VmHWM`), as GNU `/usr/bin/time` reports
 * it. Comparing 10,000 with 100,000 recipients shows that the input is
 * streamed: what grows with N is the table that drops duplicate numbers (12 bytes per
 * slot, kept at most half full: 24 to 48 bytes per distinct number).
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env --allow-run \
 *     bench/send_ceiling.ts [--sizes 10000,100000] [--concurrency 64] [--limit 120]
 *     [--heap-mb 16]
 *
 * `--heap-mb` caps the sender's V8 old space: a run that still finishes shows that what
 * the sender keeps for N recipients fits in it (slower, from the GC pressure).
 *
 * Bounded: a run still going after `--limit` seconds is killed, and its rate so far (from
 * the mock's count) is reported instead.
 */

import { parseArgs } from "node:util";
import { finishSend, sendToMock, serveTestMock, tempDir } from "../tests/support/send_cli.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    sizes: { type: "string", default: "10000,100000" },
    concurrency: { type: "string", default: "64" },
    limit: { type: "string", default: "120" },
    "heap-mb": { type: "string" },
  },
});
const sizes = values.sizes.split(",").map(Number);
const concurrency = Number(values.concurrency);
const limitSeconds = Number(values.limit);
// Cap the sender's V8 old space: if 100,000 recipients still go through, what it keeps
// per recipient fits under the cap (the peak RSS is mostly the runtime and young garbage).
const heapFlags = values["heap-mb"] === undefined
  ? []
  : [`--v8-flags=--max-old-space-size=${Number(values["heap-mb"])}`];

interface Row {
  recipients: number;
  journal: boolean;
  finished: boolean;
  wallMs: number;
  sendMs: number;
  accepted: number;
  peakKiB: number;
  /** The sender's CPU time, user and system, start-up included. */
  cpuMs: number;
  onceEach: boolean;
}

/**
 * GNU time's `%M %U %S` (the child's peak resident set in KiB, user and system CPU
 * seconds) on its own last line of stderr.
 * Deno wants `--allow-all` to read /proc/PID/status itself, so the measuring is left to
 * /usr/bin/time, around `timeout`, which enforces the limit (time reports the largest
 * descendant's peak).
 */
const TIME = "/usr/bin/time";
const hasTime = await Deno.stat(TIME).then(() => true, () => false);

async function run(recipients: number, journal: boolean, dir: string): Promise<Row> {
  const file = `${dir}/recipients-${recipients}.txt`;
  const lines = Array.from({ length: recipients }, (_, i) => String(14_155_000_000 + i));
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  const journalArgs = journal ? ["--journal", `${dir}/journal-${recipients}.jsonl`] : [
    "--no-journal",
  ];
  await using server = await serveTestMock({ ratePerSecond: 0, maxStoredMessages: recipients });
  const limited = ["timeout", "-s", "KILL", String(limitSeconds)];
  const command = sendToMock(
    file,
    server.url,
    ["--rate", "100000", "--concurrency", String(concurrency), ...journalArgs],
    {
      text: "Hello from the ceiling bench",
      denoFlags: heapFlags,
      wrapper: hasTime ? [TIME, "-f", "%M %U %S", ...limited] : limited,
    },
  );
  const startMs = performance.now();
  const result = finishSend(await command.output());
  const stderr = result.stderr.trimEnd();
  const [peakKiB = NaN, userSeconds = NaN, systemSeconds = NaN] = hasTime
    ? (stderr.split("\n").at(-1) ?? "").split(" ").map(Number)
    : [];
  // timeout's status when it had to kill: 128 + 9.
  const killed = result.code === 137;
  const wallMs = performance.now() - startMs;
  const stats = server.stats();
  if (!killed && result.summary === undefined) {
    throw new Error(`main.ts send failed: ${stderr}`);
  }
  const summary = killed ? undefined : result.summary;
  const distinct = new Set(server.messages().map((message) => message.to)).size;
  return {
    recipients,
    journal,
    finished: !killed,
    wallMs,
    // A killed run has no summary: its sending time is the wall time, start-up included.
    sendMs: summary?.elapsedMs ?? wallMs,
    accepted: summary?.accepted ?? stats.accepted,
    peakKiB,
    cpuMs: (userSeconds + systemSeconds) * 1000,
    onceEach: stats.accepted === recipients && distinct === recipients,
  };
}

if (heapFlags.length > 0) console.error(`sender heap capped: ${heapFlags[0]}`);
const rows: Row[] = [];
{
  await using dir = await tempDir("politely-ceiling-");
  for (const recipients of sizes) {
    for (const journal of [false, true]) {
      console.error(`${recipients} recipients, journal ${journal ? "on" : "off"} ...`);
      rows.push(await run(recipients, journal, dir.path));
    }
  }
}

const table = [
  [
    "recipients",
    "journal",
    "wall",
    "sending",
    "messages/s",
    "peak RSS",
    "sender CPU",
    "CPU/message",
    "mock: once each",
  ],
  ...rows.map((row) => [
    row.recipients.toLocaleString("en-US"),
    row.journal ? "on" : "off",
    `${(row.wallMs / 1000).toFixed(1)} s`,
    `${(row.sendMs / 1000).toFixed(1)} s${row.finished ? "" : " (killed)"}`,
    Math.round(row.accepted / (row.sendMs / 1000)).toLocaleString("en-US"),
    Number.isNaN(row.peakKiB) ? "n/a" : `${(row.peakKiB / 1024).toFixed(1)} MiB`,
    Number.isNaN(row.cpuMs) ? "n/a" : `${(row.cpuMs / 1000).toFixed(1)} s`,
    Number.isNaN(row.cpuMs) ? "n/a" : `${Math.round(row.cpuMs * 1000 / row.recipients)} µs`,
    row.finished ? (row.onceEach ? "yes" : "NO") : `${row.accepted} accepted`,
  ]),
];
const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
console.log(
  table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n"),
);
const small = rows.find((row) => row.recipients === Math.min(...sizes) && !row.journal);
const large = rows.find((row) => row.recipients === Math.max(...sizes) && !row.journal);
if (small && large && small !== large) {
  const perNumber = (large.peakKiB - small.peakKiB) * 1024 / (large.recipients - small.recipients);
  console.log(
    `\npeak RSS ${(large.peakKiB / small.peakKiB).toFixed(2)}× for ` +
      `${large.recipients / small.recipients}× the recipients: ` +
      `${perNumber.toFixed(0)} bytes per extra recipient (journal off).`,
  );
}
const on = rows.filter((row) => row.journal);
const off = rows.filter((row) => !row.journal);
for (const [index, withJournal] of on.entries()) {
  const without = off[index];
  if (!without) continue;
  const rate = (row: Row) => row.accepted / row.sendMs;
  console.log(
    `${withJournal.recipients.toLocaleString("en-US")} recipients: the journal costs ` +
      `${((1 - rate(withJournal) / rate(without)) * 100).toFixed(0)}% of the rate.`,
  );
}
