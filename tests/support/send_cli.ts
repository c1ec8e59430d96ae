/**
 * Shared by the tests and benches that drive `main.ts send` in its own process against the
 * mock Vonage Messages API served by the calling process: the test application (id and
 * fixture keys), the mock, the spawned sender with a clean environment, and its parsed
 * `--json` summary. Not a test file itself (no `_test.ts` ending).
 *
 * @module
 */

import { hashMessageText, Journal, type JournalState } from "../../lib/send/journal.ts";
import type { SendSummary } from "../../lib/send/progress.ts";
import type { QueueTotals } from "../../lib/redis/shared_send.ts";
import {
  type MockVonageServer,
  serveMockVonage,
  type ServeMockVonageOptions,
} from "../../lib/mock/serve_mock_vonage.ts";

/** The repository root: where `main.ts` runs, with `/` at the end. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;
/** The application id that the mock expects and the spawned sender gets. */
export const TEST_APPLICATION_ID = "politely-test";
/** The fixture private key (PKCS#8 PEM) that signs the sender's tokens. */
export const TEST_PRIVATE_KEY_PATH = `${ROOT}fixtures/test_private.key`;
/** The text of {@linkcode TEST_PRIVATE_KEY_PATH}. */
export const TEST_PRIVATE_KEY: string = await Deno.readTextFile(TEST_PRIVATE_KEY_PATH);
/** The fixture public key (SPKI PEM) with which the mock checks tokens. */
export const TEST_PUBLIC_KEY: string = await Deno.readTextFile(
  `${ROOT}fixtures/test_public.pem`,
);
/** The sender's variables for the test application: its id and the fixture key file. */
export const TEST_CREDENTIALS: Readonly<Record<string, string>> = {
  VONAGE_APPLICATION_ID: TEST_APPLICATION_ID,
  VONAGE_PRIVATE_KEY_PATH: TEST_PRIVATE_KEY_PATH,
};
/** The `--from` of {@linkcode sendToMock} unless told otherwise. */
export const FROM = "Politely";
/** The `--text` of {@linkcode sendToMock} unless told otherwise. */
export const TEXT = "hi";

/** `count` fictional US numbers, E.164 digits, starting at 1 415 555 `first`. */
export function numbers(count: number, first = 0): string[] {
  return Array.from({ length: count }, (_, i) => `1415555${String(first + i).padStart(4, "0")}`);
}

/** A temporary directory that removes itself (`await using`). */
export async function tempDir(
  prefix = "politely-test-",
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Write `list` to `path`, one a line; returns `path`. */
export async function writeList(path: string, list: string[]): Promise<string> {
  await Deno.writeTextFile(path, list.join("\n") + "\n");
  return path;
}

/**
 * The mock Vonage Messages API on a loopback port, for the test application. The seed
 * (for `failRate` and `dropRate`) is 1 unless given, so failures repeat from run to run.
 */
export function serveTestMock(
  options: Omit<ServeMockVonageOptions, "publicKey" | "applicationId"> = {},
): Promise<MockVonageServer> {
  return serveMockVonage({
    publicKey: TEST_PUBLIC_KEY,
    applicationId: TEST_APPLICATION_ID,
    seed: 1,
    ...options,
  });
}

/** How many times the mock accepted each number. */
export function acceptedCounts(server: MockVonageServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { to } of server.messages()) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}

/** Options for {@linkcode mainCommand}. */
export interface MainCommandOptions {
  /**
   * Variables for the child, over those it inherits (`NO_COLOR=1` is always set).
   *
   * @default {{}}
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Pipe the child's standard input (to write to it) instead of closing it.
   *
   * @default {false}
   */
  stdin?: boolean;
  /**
   * The permissions `deno run` grants.
   *
   * @default {["--allow-net=127.0.0.1", "--allow-read", "--allow-write", "--allow-env"]}
   */
  permissions?: string[];
  /**
   * Flags for `deno run` itself, e.g. `--v8-flags=--max-old-space-size=16`.
   *
   * @default {[]}
   */
  denoFlags?: string[];
  /**
   * A command line to run it under, e.g. `["timeout", "-s", "KILL", "60"]`.
   *
   * @default {[]}
   */
  wrapper?: string[];
}

/**
 * `main.ts ARGS…` in the repository root, as a child process (not started) whose
 * standard output and error are piped.
 */
export function mainCommand(args: string[], options: MainCommandOptions = {}): Deno.Command {
  const argv = [
    ...(options.wrapper ?? []),
    Deno.execPath(),
    "run",
    ...(options.denoFlags ?? []),
    ...(options.permissions ??
      ["--allow-net=127.0.0.1", "--allow-read", "--allow-write", "--allow-env"]),
    "main.ts",
    ...args,
  ];
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** A finished `main.ts`: its exit code and its decoded output. */
export interface MainRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run {@linkcode mainCommand} to completion. */
export async function runMain(args: string[], options: MainCommandOptions = {}): Promise<MainRun> {
  const output = await mainCommand(args, options).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Options for {@linkcode sendCommand}. */
export interface SendCommandOptions extends Omit<MainCommandOptions, "permissions"> {
  /**
   * The `VONAGE_*` variables the sender sees. Those not given are set empty, so that
   * nothing inherited from the caller's environment wins over the flags or the key file.
   *
   * @default {TEST_CREDENTIALS}
   */
  env?: Readonly<Record<string, string>>;
}

/** `main.ts send ARGS…` in the repository root, as a child process (not started). */
export function sendCommand(args: string[], options: SendCommandOptions = {}): Deno.Command {
  return mainCommand(["send", ...args], {
    ...options,
    env: {
      VONAGE_APPLICATION_ID: "",
      VONAGE_PRIVATE_KEY_PATH: "",
      VONAGE_PRIVATE_KEY: "",
      VONAGE_FROM: "",
      ...(options.env ?? TEST_CREDENTIALS),
    },
  });
}

/** Options for {@linkcode sendToMock}. */
export interface SendToMockOptions extends SendCommandOptions {
  /**
   * The message text (`--text`).
   *
   * @default {TEXT}
   */
  text?: string;
  /**
   * The sender (`--from`).
   *
   * @default {FROM}
   */
  from?: string;
}

/**
 * `main.ts send INPUT --text TEXT --from FROM --base-url URL --json --quiet EXTRA…`: a
 * send to the mock at `baseUrl` that prints only its summary (not started).
 */
export function sendToMock(
  input: string,
  baseUrl: string,
  extra: string[] = [],
  options: SendToMockOptions = {},
): Deno.Command {
  const { text = TEXT, from = FROM, ...commandOptions } = options;
  const args = [input, "--text", text, "--from", from, "--base-url", baseUrl, "--json", "--quiet"];
  return sendCommand([...args, ...extra], commandOptions);
}

/**
 * What `main.ts send --json` prints: the {@linkcode SendSummary} and what the command adds
 * to it.
 */
export interface SendJsonSummary extends SendSummary {
  stoppedBy?: string;
  journal?: string;
  previous?: { accepted: number; failed: number; uncertain: number; pending: number };
  worker?: string;
  queue?: QueueTotals;
}

/** A finished sender: its exit, its output, and its `--json` summary if it printed one. */
export interface SendRun {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  summary: SendJsonSummary | undefined;
}

/** Decode a sender's output; the summary is its last stdout line, if that is a JSON object. */
export function finishSend(output: Deno.CommandOutput): SendRun {
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const summary = last.startsWith("{") ? JSON.parse(last) as SendJsonSummary : undefined;
  return { code: output.code, signal: output.signal, stdout, stderr, summary };
}

/**
 * Run {@linkcode sendToMock} to completion; `stdin`, if given, is written to its standard
 * input (for `INPUT` `-`).
 */
export async function runSend(
  input: string,
  baseUrl: string,
  extra: string[] = [],
  options: Omit<SendToMockOptions, "stdin"> & { stdin?: string } = {},
): Promise<SendRun> {
  const { stdin, ...rest } = options;
  const command = sendToMock(input, baseUrl, extra, { ...rest, stdin: stdin !== undefined });
  if (stdin === undefined) return finishSend(await command.output());
  const child = command.spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  return finishSend(await child.output());
}

/** A started sender and its output to come. */
export interface RunningSend {
  child: Deno.ChildProcess;
  output: Promise<Deno.CommandOutput>;
}

/**
 * Start `command` and poll every 5 ms until `ready()` holds. After 20 s without it the
 * child is killed (SIGKILL) and collected, and this throws "the sender never `what`".
 */
export async function spawnUntil(
  command: Deno.Command,
  ready: () => boolean,
  what: string,
): Promise<RunningSend> {
  const child = command.spawn();
  const output = child.output();
  const deadline = Date.now() + 20_000;
  while (!ready()) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await output;
      throw new Error(`the sender never ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { child, output };
}

/**
 * Start `command`, send it `signal` once the mock has accepted `after` messages, and
 * collect it. `acceptedAtSignal` is the mock's count at the moment of the signal.
 */
export async function signalAfterAccepted(
  server: MockVonageServer,
  command: Deno.Command,
  signal: Deno.Signal,
  after: number,
): Promise<{ run: SendRun; acceptedAtSignal: number }> {
  const { child, output } = await spawnUntil(
    command,
    () => server.stats().accepted >= after,
    `reached ${after} accepted messages`,
  );
  const acceptedAtSignal = server.stats().accepted;
  child.kill(signal);
  return { run: finishSend(await output), acceptedAtSignal };
}

/**
 * What the library's replay makes of a journal written by {@linkcode sendToMock} (open it
 * only after the sender has exited).
 */
export async function replayJournal(
  path: string,
  { from = FROM, text = TEXT }: { from?: string; text?: string } = {},
): Promise<ReadonlyMap<string, JournalState>> {
  const journal = await Journal.open(path, { from, textHash: await hashMessageText(text) });
  await journal.close();
  return journal.previous;
}
