/**
 * How fast `main.ts send --dry-run` reads and checks recipients, and that its memory stays
 * flat: the real CLI in its own process over files of N lines, each number read by its
 * country's rules (libphonenumber-js), its `{{name}}` template filled and its segments
 * counted. Nothing is sent (the dry run never reaches the API).
 *
 * Two formats: a plain list of international numbers as people write them
 * (`+1 (415) 2xx-xxxx`) and a CSV of national numbers with `--default-country US` and a
 * name column the template uses.
 *
 * Peak memory is the child's peak resident set, from GNU `/usr/bin/time`. What grows with
 * N is the table that drops duplicate numbers (24 to 48 bytes per distinct number); the
 * rest is streamed.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-run bench/dry_run_numbers.ts \
 *     [--sizes 100000,1000000]
 */

import { benchFlags } from "./flags.ts";
import { finishSend, sendCommand, tempDir } from "../tests/support/send_cli.ts";

const sizes = benchFlags({ sizes: "100000,1000000" }).sizes.split(",").map(Number);
const TIME = "/usr/bin/time";
const hasTime = await Deno.stat(TIME).then(() => true, () => false);

type Format = "list" | "csv";

/** Distinct valid US numbers: 415 and 628 area codes, exchanges 200–999. */
function number(index: number): { area: string; local: string } {
  const area = index < 8_000_000 ? "415" : "628";
  const n = 2_000_000 + (index % 8_000_000);
  return { area, local: `${String(n).slice(0, 3)}-${String(n).slice(3)}` };
}

async function writeInput(dir: string, format: Format, lines: number): Promise<string> {
  const path = `${dir}/recipients-${format}-${lines}.${format === "csv" ? "csv" : "txt"}`;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const writer = file.writable.getWriter();
  const encoder = new TextEncoder();
  if (format === "csv") await writer.write(encoder.encode("to,name\n"));
  const batch = 10_000;
  for (let start = 0; start < lines; start += batch) {
    let text = "";
    for (let index = start; index < Math.min(lines, start + batch); index++) {
      const { area, local } = number(index);
      text += format === "csv" ? `(${area}) ${local},Person ${index}\n` : `+1 (${area}) ${local}\n`;
    }
    await writer.write(encoder.encode(text));
  }
  await writer.close();
  return path;
}

interface Row {
  format: Format;
  lines: number;
  wallMs: number;
  numbersPerSecond: number;
  peakMiB: number;
  segments: number;
}

async function run(dir: string, format: Format, lines: number): Promise<Row> {
  const path = await writeInput(dir, format, lines);
  const args = format === "csv"
    ? ["--default-country", "US", "--text", "Hi {{name}}, your order is ready"]
    : ["--text", "Hi, your order is ready"];
  const command = sendCommand(
    [path, ...args, "--from", "Acme", "--dry-run", "--json", "--no-journal"],
    { wrapper: hasTime ? [TIME, "-f", "%M"] : [] },
  );
  const startMs = performance.now();
  const result = finishSend(await command.output());
  const wallMs = performance.now() - startMs;
  if (result.code !== 0) throw new Error(`dry run failed: ${result.stderr}`);
  const report = JSON.parse(result.stdout.trim().split("\n")[0]!);
  if (report.recipients !== lines) throw new Error(`${report.recipients} of ${lines} read`);
  const peakKiB = hasTime ? Number(result.stderr.trimEnd().split("\n").at(-1)) : NaN;
  return {
    format,
    lines,
    wallMs,
    numbersPerSecond: lines / (wallMs / 1000),
    peakMiB: peakKiB / 1024,
    segments: report.segments,
  };
}

await using dir = await tempDir("politely-dry-run-bench-");
console.log("format  lines      wall s  numbers/s  peak RSS MiB  segments");
for (const format of ["list", "csv"] as const) {
  for (const lines of sizes) {
    const row = await run(dir.path, format, lines);
    console.log(
      `${row.format.padEnd(6)}  ${String(row.lines).padEnd(9)}  ${
        (row.wallMs / 1000).toFixed(1).padStart(6)
      }  ${Math.round(row.numbersPerSecond).toLocaleString("en-US").padStart(9)}  ${
        row.peakMiB.toFixed(0).padStart(12)
      }  ${row.segments}`,
    );
  }
}
console.log("wall time includes the process start (~0.3 s) and the key check; nothing is sent");
