/**
 * What the user sees while a bulk send runs, and the summary at the end.
 *
 * {@linkcode Progress} reads the sender's counters on a timer and draws them: on a
 * terminal, one line on stderr redrawn in place (at most ten times a second, and only
 * when it changed); in a log or pipe, one line every five seconds; with `quiet`,
 * nothing. The rate is measured over a sliding window of recent outcomes and gives the
 * ETA. Colour only on a terminal, and never when `NO_COLOR` is set.
 *
 * {@linkcode formatSummary} turns the end-of-run {@linkcode SendSummary} into text; the
 * `--json` form is the object itself.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";

/**
 * The counters {@linkcode Progress} draws; a {@linkcode SendSummary} has them all.
 *
 * @example Counters the sender updates and Progress reads
 * ```ts
 * import { Progress, type ProgressCounters } from "./progress.ts";
 *
 * const counters: ProgressCounters = {
 *   total: undefined, accepted: 0, failed: 0, uncertain: 0, skipped: 0, throttled: 0,
 * };
 * const progress = new Progress(() => counters, { quiet: true });
 * progress.start();
 * counters.accepted++;
 * console.log(progress.render()); // 1 done · 1 accepted · 0ms
 * progress.stop();
 * ```
 */
export interface ProgressCounters {
  /** Recipients in the input, or `undefined` while it is still being read. */
  total: number | undefined;
  /** Accepted by the API in this run. */
  accepted: number;
  /** Refused for good in this run. */
  failed: number;
  /** May or may not have been accepted, in this run. */
  uncertain: number;
  /** Already decided by an earlier run (from the journal), not sent again. */
  skipped: number;
  /** Answers that were 429 Too Many Requests. */
  throttled: number;
}

/**
 * Where progress goes: stderr by default ({@linkcode stderrWriter}).
 *
 * @example Capturing progress in a test
 * ```ts
 * import { Progress, type ProgressWriter } from "./progress.ts";
 *
 * const lines: string[] = [];
 * const writer: ProgressWriter = { isTerminal: false, write: (text) => void lines.push(text) };
 * const counters = { total: 1, accepted: 1, failed: 0, uncertain: 0, skipped: 0, throttled: 0 };
 * new Progress(() => counters, { writer }).log("warning: 1 invalid line skipped");
 * console.log(lines); // ["warning: 1 invalid line skipped\n"]
 * ```
 */
export interface ProgressWriter {
  /** Write text as it is (no newline is added). */
  write(text: string): void;
  /** Whether the text goes to a terminal (redraw in place, colour) or a log/pipe. */
  readonly isTerminal: boolean;
  /** The terminal width, if known: a longer line would wrap and break the redraw. */
  readonly columns?: number | undefined;
}

/**
 * Read access to environment variables (`Deno.env` fits).
 *
 * @example Drawing without colour, as with NO_COLOR set
 * ```ts
 * import { Progress, type ProgressEnv } from "./progress.ts";
 *
 * const env: ProgressEnv = { get: (name) => (name === "NO_COLOR" ? "1" : undefined) };
 * const drawn: string[] = [];
 * const writer = { isTerminal: true, write: (text: string) => void drawn.push(text) };
 * const counters = { total: 2, accepted: 1, failed: 0, uncertain: 0, skipped: 0, throttled: 0 };
 * const progress = new Progress(() => counters, { writer, env });
 * progress.start(); // on a terminal it draws at once
 * progress.stop();
 * console.log(drawn.join("").includes("\x1b[32m")); // false: "accepted" is not green
 * ```
 */
export interface ProgressEnv {
  /** The variable's value, or `undefined` when it is not set. */
  get(name: string): string | undefined;
}

/**
 * Options for {@linkcode Progress}.
 *
 * @example A log line every second, in virtual time
 * ```ts
 * import { FakeClock } from "../core/fake_clock.ts";
 * import { Progress, type ProgressOptions } from "./progress.ts";
 *
 * const clock = new FakeClock();
 * const lines: string[] = [];
 * const writer = { isTerminal: false, write: (text: string) => void lines.push(text) };
 * const options: ProgressOptions = { clock, writer, logEveryMs: 1_000 };
 * const counters = { total: 10, accepted: 4, failed: 0, uncertain: 0, skipped: 0, throttled: 0 };
 * const progress = new Progress(() => counters, options);
 * progress.start();
 * await clock.advance(2_000);
 * progress.stop();
 * console.log(lines.length); // 2: one line a second off a terminal
 * ```
 */
export interface ProgressOptions {
  /**
   * Where to draw.
   *
   * @default {stderrWriter()}
   */
  writer?: ProgressWriter;
  /**
   * Time for the redraw timer, the elapsed time, the rate and the ETA.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * Environment, for `NO_COLOR`.
   *
   * @default {Deno.env (unset when access is not allowed)}
   */
  env?: ProgressEnv;
  /**
   * Draw nothing at all (`--quiet`). {@linkcode Progress.log} still writes.
   *
   * @default {false}
   */
  quiet?: boolean;
  /**
   * On a terminal, how often to check for a change and redraw, in milliseconds.
   *
   * @default {100}
   */
  redrawMs?: number;
  /**
   * Off a terminal, how often to write a line, in milliseconds.
   *
   * @default {5000}
   */
  logEveryMs?: number;
  /**
   * The sliding window the current rate is measured over, in milliseconds.
   *
   * @default {10000}
   */
  windowMs?: number;
}

/**
 * Everything the end-of-run summary reports. `--json` prints this object.
 *
 * @example The same summary for people and for --json
 * ```ts
 * import { formatSummary, type SendSummary } from "./progress.ts";
 *
 * const summary: SendSummary = {
 *   total: 2, accepted: 2, failed: 0, failedByReason: {}, uncertain: 0, skipped: 0, pending: 0,
 *   invalid: 0, duplicates: 0, attempts: 3, throttled: 1, elapsedMs: 2_000, ratePerSecond: 1,
 * };
 * console.log(formatSummary(summary)); // for people
 * console.log(JSON.stringify(summary)); // what --json prints
 * ```
 */
export interface SendSummary extends ProgressCounters {
  /** Valid, distinct recipients read from the input. */
  total: number;
  /** Failures per reason (e.g. `"422 Invalid Parameters: …"`), for the summary. */
  failedByReason: Record<string, number>;
  /** Not attempted because the run stopped early (credentials, credit, Ctrl-C). */
  pending: number;
  /** Input lines that were not valid recipients (skipped with `--skip-invalid`). */
  invalid: number;
  /** Numbers listed more than once (each was sent once). */
  duplicates: number;
  /** Requests made, retries included. */
  attempts: number;
  /** From the first request to the last answer, in milliseconds. */
  elapsedMs: number;
  /** The configured request rate (`--rate`). */
  ratePerSecond: number;
  /**
   * Requests per second beyond the first burst, as `runSendJob` measures it; left
   * out of the text when `undefined` (a run too short to measure).
   */
  requestRatePerSecond?: number | undefined;
  /**
   * Accepted messages per second beyond the first burst, as `runSendJob` measures
   * it; shown beside the request rate when known.
   */
  achievedRatePerSecond?: number | undefined;
  /**
   * The server's limit as learned from 429s without a hint (requests per
   * second), when 429s taught one below `ratePerSecond`; left out otherwise.
   */
  learnedLimitPerSecond?: number | undefined;
  /** Why the run stopped early, if it did (e.g. `"401 Unauthorized: …"`). */
  stopReason?: string | undefined;
}

/**
 * Options for {@linkcode formatSummary}.
 *
 * @example Colour on a terminal only
 * ```ts
 * import { formatSummary, type FormatSummaryOptions } from "./progress.ts";
 *
 * const options: FormatSummaryOptions = { color: Deno.stdout.isTerminal() };
 * console.log(formatSummary({
 *   total: 1, accepted: 1, failed: 0, failedByReason: {}, uncertain: 0, skipped: 0, pending: 0,
 *   invalid: 0, duplicates: 0, attempts: 1, throttled: 0, elapsedMs: 1_000, ratePerSecond: 1,
 * }, options));
 * ```
 */
export interface FormatSummaryOptions {
  /**
   * Colour the counts with ANSI escapes.
   *
   * @default {false}
   */
  color?: boolean;
}

const CLEAR_LINE = "\r\x1b[2K";
const COLORS = { green: 32, red: 31, yellow: 33, magenta: 35, dim: 2 } as const;
type Color = keyof typeof COLORS;
interface Segment {
  text: string;
  color?: Color;
}

/**
 * A writer to stderr that knows whether stderr is a terminal and how wide it is.
 *
 * @example Drawing progress on stderr
 * ```ts
 * import { stderrWriter } from "./progress.ts";
 *
 * const writer = stderrWriter();
 * if (!writer.isTerminal) writer.write("sending…\n");
 * ```
 */
export function stderrWriter(): ProgressWriter {
  const encoder = new TextEncoder();
  return {
    isTerminal: Deno.stderr.isTerminal(),
    get columns(): number | undefined {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return undefined;
      }
    },
    write(text: string): void {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
    },
  };
}

/** `Deno.env`, or nothing set when the program may not read the environment. */
const processEnv: ProgressEnv = {
  get(name: string): string | undefined {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  },
};

/**
 * The live progress display of a send. Create it with a function that returns the
 * current counters, {@linkcode Progress.start} it when sending starts and
 * {@linkcode Progress.stop} it (which clears the line and the timer) before printing
 * the summary. Progress never throws into the send: a failing writer just stops it.
 *
 * @example Showing progress for a send
 * ```ts
 * import { Progress, type ProgressCounters } from "./progress.ts";
 *
 * const counters: ProgressCounters = {
 *   total: 3, accepted: 0, failed: 0, uncertain: 0, skipped: 0, throttled: 0,
 * };
 * const progress = new Progress(() => counters);
 * progress.start();
 * for (let sent = 0; sent < 3; sent++) counters.accepted++;
 * progress.stop();
 * ```
 */
export class Progress {
  #counters: () => ProgressCounters;
  #writer: ProgressWriter;
  #clock: Clock;
  #quiet: boolean;
  #color: boolean;
  #intervalMs: number;
  #windowMs: number;
  #startMs: number;
  #samples: Array<{ atMs: number; done: number }> = [];
  #controller: AbortController | undefined;
  #drawn = "";
  #stopped = false;

  /** Draw the counters that `counters()` returns. */
  constructor(counters: () => ProgressCounters, options: ProgressOptions = {}) {
    const {
      writer = stderrWriter(),
      clock = realClock,
      env = processEnv,
      quiet = false,
      redrawMs = 100,
      logEveryMs = 5_000,
      windowMs = 10_000,
    } = options;
    for (const [name, value] of Object.entries({ redrawMs, logEveryMs, windowMs })) {
      if (!(Number.isFinite(value) && value > 0)) {
        throw new RangeError(
          `Cannot create Progress: '${name}' must be a positive number, current value is ${value}`,
        );
      }
    }
    this.#counters = counters;
    this.#writer = writer;
    this.#clock = clock;
    this.#quiet = quiet;
    const noColor = env.get("NO_COLOR");
    this.#color = writer.isTerminal && (noColor === undefined || noColor === "");
    this.#intervalMs = writer.isTerminal ? redrawMs : logEveryMs;
    this.#windowMs = windowMs;
    // Until start(), elapsed time counts from construction, never from the epoch.
    this.#startMs = clock.now();
  }

  /** Start the clock for the elapsed time and rate, and the redraw timer. */
  start(): void {
    if (this.#controller !== undefined || this.#stopped) return;
    this.#startMs = this.#clock.now();
    this.#sample();
    if (this.#quiet) return;
    this.#controller = new AbortController();
    this.#run(this.#controller.signal);
    if (this.#writer.isTerminal) this.#draw();
  }

  /**
   * The progress line as it would be drawn now (without colour or line control), e.g.
   * `12% 1,234/10,000 · 1,200 accepted · 20 failed · 14 uncertain · 3×429 · 1.00/s ·
   * 2m 05s · ETA 2h 33m`.
   */
  render(): string {
    return this.#segments().map((segment) => segment.text).join("");
  }

  /**
   * Print a message on its own line (a warning, "stopping: …"), keeping the progress
   * line below it on a terminal. Writes even when quiet.
   */
  log(text: string): void {
    const line = text.endsWith("\n") ? text : text + "\n";
    this.#safely(() => {
      if (this.#writer.isTerminal && this.#drawn !== "") {
        this.#writer.write(CLEAR_LINE + line + this.#drawn);
      } else {
        this.#writer.write(line);
      }
    });
  }

  /** Stop the timer and clear the progress line from the terminal. Calling it again does nothing. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#controller?.abort();
    this.#controller = undefined;
    if (this.#drawn !== "") this.#safely(() => this.#writer.write(CLEAR_LINE));
    this.#drawn = "";
  }

  async #run(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        await this.#clock.sleep(this.#intervalMs, signal);
        this.#sample();
        if (this.#writer.isTerminal) {
          this.#draw();
        } else {
          this.#writer.write(this.render() + "\n");
        }
      }
    } catch {
      // Aborted by stop(), or the writer failed: either way, stop drawing.
    }
  }

  #draw(): void {
    let segments = this.#segments();
    const columns = this.#writer.columns;
    if (columns !== undefined && columns > 1) segments = truncate(segments, columns - 1);
    const line = segments
      .map((segment) => paint(segment.text, this.#color ? segment.color : undefined))
      .join("");
    if (line === this.#drawn) return;
    this.#safely(() => this.#writer.write(CLEAR_LINE + line));
    this.#drawn = line;
  }

  #safely(write: () => void): void {
    try {
      write();
    } catch {
      // A closed stderr must not stop the send; stop drawing instead.
      this.#controller?.abort();
      this.#stopped = true;
    }
  }

  #sample(): void {
    const atMs = this.#clock.now();
    const { accepted, failed, uncertain } = this.#counters();
    this.#samples.push({ atMs, done: accepted + failed + uncertain });
    // Keep one sample at or before the window's start, so the window is fully covered.
    while (this.#samples.length > 2 && this.#samples[1]!.atMs <= atMs - this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** Outcomes per second over the window, or `undefined` before a second has passed. */
  #rate(nowMs: number, done: number): number | undefined {
    const oldest = this.#samples[0];
    if (oldest === undefined) return undefined;
    const spanMs = nowMs - oldest.atMs;
    if (spanMs < 1_000) return undefined;
    return (done - oldest.done) / (spanMs / 1_000);
  }

  #segments(): Segment[] {
    const nowMs = this.#clock.now();
    const counters = this.#counters();
    const { total, accepted, failed, uncertain, skipped, throttled } = counters;
    const done = accepted + failed + uncertain;
    const handled = done + skipped;
    const segments: Segment[] = [];
    const separator = (): void => {
      segments.push({ text: " · ", color: "dim" });
    };
    if (total !== undefined && total > 0) {
      const percent = Math.floor((100 * Math.min(handled, total)) / total);
      segments.push({ text: `${percent}% ${count(handled)}/${count(total)}` });
    } else {
      segments.push({ text: `${count(handled)} done` });
    }
    separator();
    segments.push({ text: `${count(accepted)} accepted`, color: "green" });
    if (failed > 0) {
      separator();
      segments.push({ text: `${count(failed)} failed`, color: "red" });
    }
    if (uncertain > 0) {
      separator();
      segments.push({ text: `${count(uncertain)} uncertain`, color: "yellow" });
    }
    if (skipped > 0) {
      separator();
      segments.push({ text: `${count(skipped)} skipped` });
    }
    if (throttled > 0) {
      separator();
      segments.push({ text: `${count(throttled)}×429`, color: "magenta" });
    }
    const rate = this.#rate(nowMs, done);
    if (rate !== undefined) {
      separator();
      segments.push({ text: `${formatRate(rate)}/s` });
    }
    separator();
    segments.push({ text: formatDuration(nowMs - this.#startMs) });
    if (total !== undefined && rate !== undefined && rate > 0 && handled < total) {
      separator();
      segments.push({ text: `ETA ${formatDuration(((total - handled) / rate) * 1_000)}` });
    }
    return segments;
  }
}

/**
 * The end-of-run summary as text: what was accepted, failed (by reason), uncertain,
 * skipped or left pending, how many requests it took and how many were throttled, and
 * the rate achieved against the rate configured.
 *
 * @example Printing a summary
 * ```ts
 * import { formatSummary } from "./progress.ts";
 *
 * console.log(formatSummary({
 *   total: 3, accepted: 2, failed: 1, failedByReason: { "422 Invalid Parameters": 1 },
 *   uncertain: 0, skipped: 0, pending: 0, invalid: 0, duplicates: 0,
 *   attempts: 4, throttled: 1, elapsedMs: 3_000, ratePerSecond: 1,
 * }));
 * ```
 */
export function formatSummary(summary: SendSummary, options: FormatSummaryOptions = {}): string {
  const { color = false } = options;
  const paintIf = (text: string, tint: Color, when: boolean): string =>
    color && when ? paint(text, tint) : text;
  const elapsed = formatDuration(summary.elapsedMs, true);
  const lines: string[] = [
    summary.stopReason === undefined
      ? `Done in ${elapsed}.`
      : `Stopped after ${elapsed}: ${summary.stopReason}`,
  ];
  const rows: Array<[string, number, string, Color | undefined]> = [
    ["accepted", summary.accepted, "", "green"],
    ["failed", summary.failed, "", "red"],
  ];
  const width = Math.max(
    ...[summary.total, summary.attempts, summary.accepted, summary.failed, summary.uncertain]
      .map((value) => count(value).length),
  );
  const row = (label: string, value: number, note: string, tint: Color | undefined): string => {
    const number = count(value);
    const shown = " ".repeat(Math.max(0, width - number.length)) +
      (tint === undefined ? number : paintIf(number, tint, value > 0));
    return `  ${label.padEnd(11)}${shown}${note === "" ? "" : `  ${note}`}`;
  };
  for (const [label, value, note, tint] of rows) lines.push(row(label, value, note, tint));
  const reasons = Object.entries(summary.failedByReason)
    .sort(([reasonA, countA], [reasonB, countB]) =>
      countB - countA || reasonA.localeCompare(reasonB)
    );
  for (const [reason, times] of reasons.slice(0, 10)) {
    lines.push(`  ${"".padEnd(11)}${count(times).padStart(width)}  ${reason}`);
  }
  if (reasons.length > 10) {
    lines.push(
      `  ${"".padEnd(11)}${"".padStart(width)}  … and ${reasons.length - 10} more reasons`,
    );
  }
  lines.push(row(
    "uncertain",
    summary.uncertain,
    summary.uncertain > 0
      ? "may have been accepted; rerun with --resend-uncertain to send them again"
      : "",
    "yellow",
  ));
  const optional: Array<[string, number, string]> = [
    ["skipped", summary.skipped, "already decided in the journal"],
    ["pending", summary.pending, "not sent because the run stopped"],
    ["invalid", summary.invalid, "input lines skipped"],
    ["duplicates", summary.duplicates, "listed more than once, sent once"],
  ];
  for (const [label, value, note] of optional) {
    if (value > 0) lines.push(row(label, value, note, undefined));
  }
  lines.push(row(
    "attempts",
    summary.attempts,
    summary.throttled > 0
      ? `${count(summary.throttled)} answered 429 Too Many Requests`
      : "no 429 Too Many Requests",
    undefined,
  ));
  const configured = `${
    Number.isInteger(summary.ratePerSecond)
      ? count(summary.ratePerSecond)
      : formatRate(summary.ratePerSecond)
  }/s configured`;
  const { requestRatePerSecond: requests, achievedRatePerSecond: accepted } = summary;
  lines.push(
    `  ${"rate".padEnd(11)}` +
      (requests === undefined
        ? `${configured} (too few requests to measure the rate achieved)`
        : `${formatRate(requests).padStart(width)} requests/s achieved` +
          (accepted === undefined ? "" : ` (${formatRate(accepted)} accepted/s)`) +
          `, ${configured}`),
  );
  const learned = summary.learnedLimitPerSecond;
  if (learned !== undefined) {
    lines.push(
      `  ${"limit".padEnd(11)}${formatRate(learned).padStart(width)}/s learned from 429s` +
        " (below the configured rate)",
    );
  }
  return lines.join("\n");
}

/** A count with thousands separators: `12,345`. */
function count(value: number): string {
  return value.toLocaleString("en-US");
}

/** A rate with sensible precision: `0.50`, `1.00`, `12.5`, `250`. */
function formatRate(perSecond: number): string {
  if (perSecond < 10) return perSecond.toFixed(2);
  if (perSecond < 100) return perSecond.toFixed(1);
  return Math.round(perSecond).toLocaleString("en-US");
}

/** `850ms`, `12s`, `2m 05s`, `2h 03m` (or `2h 03m 07s` with `seconds`). */
function formatDuration(ms: number, seconds = false): string {
  if (!(ms >= 0) || !Number.isFinite(ms)) return "?";
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const totalSeconds = Math.round(ms / 1_000);
  const hours = Math.floor(totalSeconds / 3_600);
  const minutes = Math.floor((totalSeconds % 3_600) / 60);
  const secs = totalSeconds % 60;
  const two = (value: number): string => String(value).padStart(2, "0");
  if (hours > 0) {
    return seconds ? `${hours}h ${two(minutes)}m ${two(secs)}s` : `${hours}h ${two(minutes)}m`;
  }
  if (minutes > 0) return `${minutes}m ${two(secs)}s`;
  return `${secs}s`;
}

function paint(text: string, color: Color | undefined): string {
  return color === undefined ? text : `\x1b[${COLORS[color]}m${text}\x1b[0m`;
}

/** Cut segments to `width` characters, ending with `…` when something was cut. */
function truncate(segments: Segment[], width: number): Segment[] {
  const result: Segment[] = [];
  let used = 0;
  for (const segment of segments) {
    if (used + segment.text.length <= width) {
      result.push(segment);
      used += segment.text.length;
      continue;
    }
    const room = width - used - 1;
    if (room > 0) result.push({ ...segment, text: segment.text.slice(0, room) });
    result.push({ text: "…" });
    break;
  }
  return result;
}
