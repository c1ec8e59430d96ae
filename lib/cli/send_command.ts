/**
 * `main.ts send`: read recipients, check everything, then send one SMS each at
 * the allowed rate, journaling every outcome.
 *
 * The input is read twice, streamed both times: a validation pass (nothing is
 * sent unless every line is good, or `--skip-invalid`), then the sending pass.
 * Standard input is spooled to a temporary file first so it can be read twice.
 *
 * With `--redis URL` the sending pass is one worker's share of a campaign that several
 * workers run together, through a Redis budget and queue: see `lib/redis/shared_send.ts`.
 *
 * @module
 */

import { BACKOFF_STRATEGIES, type BackoffStrategy, type Jitter, JITTERS } from "../core/backoff.ts";
import { AdaptiveLimiter } from "../core/adaptive_limiter.ts";
import { hashMessageText, Journal, JournalError, type JournalState } from "../send/journal.ts";
import type { Limiter } from "../core/limiter.ts";
import { formatSummary, Progress, type SendSummary, stderrWriter } from "../send/progress.ts";
import { formatProblem, readRecipients, type Recipient } from "../send/recipients.ts";
import {
  emptySendCounts,
  runSendJob,
  type SendCounts,
  type SendJobOptions,
  type SendJobResult,
} from "../send/send_job.ts";
import { TokenBucket } from "../core/token_bucket.ts";
import { importVonagePrivateKey, mintVonageJwt, VonageCredentialsError } from "../vonage/jwt.ts";
import { createVonageClient } from "../vonage/client.ts";
import { connectRedis, type RedisConnection } from "../redis/connect.ts";
import {
  budgetKey,
  campaignId,
  defaultWorkerName,
  describeQueueTotals,
  queueKey,
  type QueueTotals,
  RecipientDigest,
  RedisUnreachableError,
  SharedSend,
} from "../redis/shared_send.ts";
import { parseFlags, positiveInteger, positiveNumber } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";

const HELP = `Usage: main.ts send RECIPIENTS|- --text TEXT [options]

Send one SMS to each recipient through the Vonage Messages API, as fast as the
rate allows and never faster. Every outcome goes to a journal, so a rerun skips
recipients already decided and a crash never sends twice.

Recipients: CSV with a header naming the phone column (to, phone, number, msisdn,
mobile; an optional text column), JSON Lines ({"to": ..., "text"?: ...}), or one
number per line. '+', spaces, dashes, dots and parentheses are stripped.

Message:
  --text TEXT            the message (a per-recipient text overrides it)
  --from FROM            sender number or alphanumeric id [env VONAGE_FROM]
Pacing and retries:
  --rate N               requests per second (default 1: the US outbound SMS limit)
  --burst N              requests allowed at once above the rate (default 1)
  --concurrency N        most requests in flight (default 16)
  --adaptive             learn the real limit from 429s (never above --rate)
  --max-time S           seconds one message may keep retrying (default 300)
  --max-tries N          attempts per message, counting the first (default: no limit)
  --backoff KIND         expo | fibo | constant | linear (default expo)
  --jitter KIND          full | equal | decorrelated | none (default full)
Where and how:
  --base-url URL         API base URL (default https://api.nexmo.com)
  --journal FILE         journal file (default RECIPIENTS.journal.jsonl beside the input)
  --no-journal           keep no journal (a rerun will send to everyone again)
  --retry-uncertain      retry messages whose outcome is unknown (may send twice)
  --resend-uncertain     resend to numbers an earlier run left uncertain (may send twice)
  --skip-invalid         send to the valid recipients even if some lines are bad
  --dry-run              check the file and credentials, show what would be sent; send nothing
  --json                 print the summary as JSON on stdout
  --quiet                no progress line
  -h, --help             this help
Scale-out (several workers, on one machine or many):
  --redis URL            share one rate budget (per application) and one work queue (per
                         campaign) through Redis (redis:// or rediss://). Start the same
                         command on every worker, each with its own journal; together they
                         keep to --rate (give every worker the same --rate and --burst).
                         A worker's summary covers its share, plus the queue's totals.
                         Not with --adaptive.
  --redis-worker NAME    this worker's name in the queue (default HOST:JOURNAL-PATH); keep
                         it stable across restarts and unique among running workers
  --redis-reclaim-after S  take over a silent (dead) worker's entries after S seconds
                         (default 60; the same on every worker). What it may have sent is
                         recorded uncertain, never sent twice (unless --resend-uncertain)

Credentials: VONAGE_APPLICATION_ID, and VONAGE_PRIVATE_KEY_PATH (the private.key
file) or VONAGE_PRIVATE_KEY (the PEM text).

Exit codes: 0 all accepted; 1 some failed or uncertain (or out of credit);
2 usage, input, credential or endpoint error (nothing more sent); 130 interrupted.
`;

const BACKOFF_NAMES: Record<string, BackoffStrategy> = {
  expo: "exponential",
  exponential: "exponential",
  fibo: "fibonacci",
  fibonacci: "fibonacci",
  constant: "constant",
  linear: "linear",
};

/** How many bad lines to print before summarising the rest. */
const MAX_PROBLEMS_SHOWN = 50;

/** What `send` needs from its environment; tests and `demo` pass their own. */
export interface SendCommandIo {
  /** Environment variables. */
  env: { get(name: string): string | undefined };
  /** Where the summary goes. */
  stdout: (text: string) => void;
  /** Where problems and notices go. */
  stderr: (text: string) => void;
}

const defaultIo: SendCommandIo = {
  env: Deno.env,
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
};

function parseSendArgs(args: string[]) {
  return parseFlags("send", args, {
    text: { type: "string" },
    from: { type: "string" },
    rate: { type: "string" },
    burst: { type: "string" },
    concurrency: { type: "string" },
    adaptive: { type: "boolean" },
    "max-time": { type: "string" },
    "max-tries": { type: "string" },
    backoff: { type: "string" },
    jitter: { type: "string" },
    "base-url": { type: "string" },
    journal: { type: "string" },
    "no-journal": { type: "boolean" },
    "retry-uncertain": { type: "boolean" },
    "resend-uncertain": { type: "boolean" },
    "skip-invalid": { type: "boolean" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
    redis: { type: "string" },
    "redis-worker": { type: "string" },
    "redis-reclaim-after": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, { allowPositionals: true });
}

/**
 * Where the journal lives when `--journal` is not given: beside the input, named
 * after it whole (`people.csv` → `people.csv.journal.jsonl`), so two inputs that
 * differ only in extension never share a journal.
 */
function defaultJournalPath(recipientsPath: string): string {
  return `${recipientsPath}.journal.jsonl`;
}

async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`cannot read ${path}: no such file`);
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`cannot read ${path}: permission denied (run with --allow-read)`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`cannot read ${path}: it is a directory, not a recipients file`);
    }
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  // On Linux a directory opens fine and fails only on the first read.
  if ((await file.stat()).isDirectory) {
    file.close();
    throw new UsageError(`cannot read ${path}: it is a directory, not a recipients file`);
  }
  return file.readable;
}

async function loadPrivateKey(env: SendCommandIo["env"]): Promise<CryptoKey> {
  const inline = env.get("VONAGE_PRIVATE_KEY");
  const path = env.get("VONAGE_PRIVATE_KEY_PATH");
  let pem: string;
  let source: string;
  if (inline !== undefined && inline.trim() !== "") {
    pem = inline;
    source = "VONAGE_PRIVATE_KEY";
  } else if (path !== undefined && path !== "") {
    source = path;
    try {
      pem = await Deno.readTextFile(path);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
      throw new UsageError(
        `cannot read the private key ${path} (VONAGE_PRIVATE_KEY_PATH): ${why}`,
      );
    }
  } else {
    throw new UsageError(
      "no private key: set VONAGE_PRIVATE_KEY_PATH to your application's private.key " +
        "(or VONAGE_PRIVATE_KEY to its PEM text)",
    );
  }
  try {
    return await importVonagePrivateKey(pem);
  } catch (error) {
    if (error instanceof VonageCredentialsError) {
      throw new UsageError(`the private key in ${source} is not usable: ${error.message}`);
    }
    throw error;
  }
}

/** Copy standard input to a temporary file so it can be read twice. */
async function spoolStdin(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "politely-stdin-", suffix: ".txt" });
  const file = await Deno.open(path, { write: true, truncate: true });
  await Deno.stdin.readable.pipeTo(file.writable);
  return path;
}

interface Validation {
  recipients: number;
  invalid: number;
  duplicates: number;
  missingText: number;
  first: Recipient[];
}

async function validate(
  path: string,
  displayName: string,
  text: string | undefined,
  skipInvalid: boolean,
  io: SendCommandIo,
  digest?: RecipientDigest,
): Promise<Validation> {
  const result: Validation = {
    recipients: 0,
    invalid: 0,
    duplicates: 0,
    missingText: 0,
    first: [],
  };
  let shown = 0;
  const show = (line: string) => {
    if (shown++ < MAX_PROBLEMS_SHOWN) io.stderr(line);
  };
  for await (const entry of readRecipients(await openInput(path))) {
    if (entry.kind === "problem") {
      result.invalid++;
      show(formatProblem(displayName, entry.problem));
      if (entry.problem.fatal) {
        throw new UsageError(`${displayName} cannot be read as a recipients file; nothing sent`);
      }
    } else if (entry.kind === "duplicate") {
      result.duplicates++;
      show(formatProblem(displayName, entry.duplicate));
    } else if (entry.recipient.text === undefined && text === undefined) {
      if (result.recipients === 0) {
        // Not a bad line but a missing flag: one message, not one per recipient.
        throw new UsageError(
          `no message text: pass --text "..." (${displayName} has no text for line ` +
            `${entry.recipient.line}, nor a text column or field)`,
        );
      }
      result.invalid++;
      result.missingText++;
      show(`${displayName}:${entry.recipient.line}: no text for this recipient: give --text`);
    } else {
      result.recipients++;
      digest?.add(entry.recipient);
      if (result.first.length < 3) result.first.push(entry.recipient);
    }
  }
  if (shown > MAX_PROBLEMS_SHOWN) {
    io.stderr(`... and ${shown - MAX_PROBLEMS_SHOWN} more`);
  }
  if (result.invalid > 0 && !skipInvalid) {
    throw new UsageError(
      `${result.invalid} invalid line${result.invalid === 1 ? "" : "s"} in ${displayName}; ` +
        "nothing sent. Fix them, or pass --skip-invalid to send to the valid ones",
    );
  }
  return result;
}

async function* sendable(path: string, text: string | undefined): AsyncGenerator<Recipient> {
  for await (const entry of readRecipients(await openInput(path))) {
    if (entry.kind !== "recipient") continue;
    if (entry.recipient.text === undefined && text === undefined) continue;
    yield entry.recipient;
  }
}

/**
 * 0 only when every recipient of the file is accepted, counting what earlier
 * runs decided: a rerun that skips numbers left failed or uncertain is not done.
 */
function exitCodeFor(result: SendJobResult, leftByEarlierRuns: number): number {
  if (result.stoppedBy === "interrupt") return 130;
  // Credentials or endpoint: the user's setup, to fix before anything more is sent.
  if (result.stoppedBy === "auth" || result.stoppedBy === "unexpected") return 2;
  if (result.failed > 0 || result.uncertain > 0 || result.pending > 0) return 1;
  return leftByEarlierRuns > 0 ? 1 : 0;
}

function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Run `main.ts send` with the given arguments; resolves to the exit code.
 *
 * @example Sending to a file of numbers
 * ```ts ignore
 * import { runSendCommand } from "./send_command.ts";
 *
 * Deno.exitCode = await runSendCommand(["recipients.csv", "--text", "Hello", "--rate", "1"]);
 * ```
 */
export async function runSendCommand(
  args: string[],
  io: SendCommandIo = defaultIo,
): Promise<number> {
  const { values, positionals } = parseSendArgs(args);
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "send: which recipients? Give a file (or - for standard input); see 'main.ts send --help'"
        : `send: one recipients file at a time, got ${positionals.length}: ${
          positionals.join(" ")
        }`,
    );
  }
  const input = positionals[0]!;
  const text = values.text;
  if (text !== undefined && (text.length === 0 || text.length > 1000)) {
    throw new UsageError(`--text must be 1 to 1000 characters, got ${text.length}`);
  }
  const from = values.from ?? io.env.get("VONAGE_FROM");
  if (from === undefined || from.trim() === "") {
    throw new UsageError("no sender: pass --from NUMBER (or set VONAGE_FROM)");
  }
  const ratePerSecond = positiveNumber("rate", values.rate, 1);
  const burst = positiveInteger("burst", values.burst, 1);
  const concurrency = positiveInteger("concurrency", values.concurrency, 16);
  const maxTimeMs = positiveNumber("max-time", values["max-time"], 300) * 1000;
  const maxTries = positiveInteger("max-tries", values["max-tries"], Infinity);
  const strategy = BACKOFF_NAMES[values.backoff ?? "expo"];
  if (strategy === undefined || !BACKOFF_STRATEGIES.includes(strategy)) {
    throw new UsageError(
      `--backoff must be expo, fibo, constant or linear, got '${values.backoff}'`,
    );
  }
  const jitter = (values.jitter ?? "full") as Jitter;
  if (!JITTERS.includes(jitter)) {
    throw new UsageError(`--jitter must be ${JITTERS.join(", ")}, got '${values.jitter}'`);
  }
  const baseUrl = values["base-url"] ?? "https://api.nexmo.com";
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http");
  } catch {
    throw new UsageError(`--base-url must be an http(s) URL, got '${baseUrl}'`);
  }
  if (values.journal !== undefined && values["no-journal"]) {
    throw new UsageError("--journal and --no-journal contradict each other; pick one");
  }
  const redis = parseRedisFlags(values);
  if (
    input === "-" && values.journal === undefined && !values["no-journal"] && !values["dry-run"]
  ) {
    throw new UsageError(
      "reading recipients from standard input: pass --journal FILE (so a rerun can resume) " +
        "or --no-journal",
    );
  }
  const applicationId = io.env.get("VONAGE_APPLICATION_ID");
  if (applicationId === undefined || applicationId.trim() === "") {
    throw new UsageError(
      "no application id: set VONAGE_APPLICATION_ID (from the Vonage dashboard or 'vonage apps')",
    );
  }
  const privateKey = await loadPrivateKey(io.env);
  // Mint once now, so a key that Vonage would refuse fails before anything is read or sent.
  await mintVonageJwt({ applicationId, privateKey });
  // Reach Redis before reading anything: a wrong URL fails at once, with nothing sent.
  if (redis !== undefined) await checkRedis(redis.url);

  const spooled = input === "-" ? await spoolStdin() : undefined;
  const path = spooled ?? input;
  const displayName = input === "-" ? "<stdin>" : input;
  try {
    const digest = redis === undefined ? undefined : new RecipientDigest();
    const checked = await validate(
      path,
      displayName,
      text,
      values["skip-invalid"] ?? false,
      io,
      digest,
    );
    if (checked.recipients === 0) {
      throw new UsageError(`${displayName} has no recipients to send to; nothing sent`);
    }
    if (values["dry-run"]) {
      if (!values["no-journal"] && input !== "-" || values.journal !== undefined) {
        await checkJournalPlace(values.journal ?? defaultJournalPath(input));
      }
      io.stdout(
        `dry run: ${checked.recipients} recipient${checked.recipients === 1 ? "" : "s"} in ` +
          `${displayName}` +
          (checked.duplicates > 0 ? ` (${checked.duplicates} duplicates dropped)` : ""),
      );
      for (const r of checked.first) {
        io.stdout(`  to ${r.to} from ${from}: ${JSON.stringify(r.text ?? text)}`);
      }
      const seconds = Math.max(0, checked.recipients - burst) / ratePerSecond;
      io.stdout(
        // Signing proves the key is usable, not that it belongs to the application: only
        // the API can tell, and a dry run does not ask it.
        `the key signs tokens for application ${applicationId} (not checked with the API); ` +
          `at ${ratePerSecond}/s ` +
          `this takes about ${formatSeconds(seconds)}. Nothing sent.`,
      );
      if (digest !== undefined) {
        const id = campaignId({
          applicationId,
          from,
          textHash: await hashMessageText(text ?? ""),
          recipients: digest,
        });
        io.stdout(
          `redis: every worker would draw on the budget ${budgetKey(applicationId)} and ` +
            `claim from the queue ${queueKey(id)}; together they take as long as one would`,
        );
      }
      return 0;
    }

    const journal = values["no-journal"]
      ? Journal.none()
      : await openJournal(values.journal ?? defaultJournalPath(input), from, text);
    let shared: SharedSend | undefined;
    let code: number;
    try {
      if (redis !== undefined && digest !== undefined) {
        shared = await openShared(redis, journal, digest, {
          applicationId,
          from,
          text,
          ratePerSecond,
          burst,
          concurrency,
        });
        const added = await shared.load(sendable(path, text));
        io.stderr(
          `redis: worker ${shared.worker} joins ${shared.queueKey} (${checked.recipients} ` +
            `recipients, ${added} added by this worker), sharing ${shared.budgetKey} at ` +
            `${ratePerSecond}/s`,
        );
      }
      code = await send(path, {
        journal,
        shared,
        checked,
        ratePerSecond,
        burst,
        concurrency,
        maxTimeMs,
        maxTries,
        strategy,
        jitter,
        baseUrl,
        applicationId,
        privateKey,
        from,
        text,
        adaptive: values.adaptive ?? false,
        retryUncertain: values["retry-uncertain"] ?? false,
        resendUncertain: values["resend-uncertain"] ?? false,
        json: values.json ?? false,
        quiet: values.quiet ?? false,
      }, io);
    } catch (error) {
      // Whatever went wrong is the news: closing must not replace it (a failed journal
      // write, already explained, would be rethrown by close()).
      await shared?.close().catch(() => {});
      await journal.close().catch(() => {});
      throw error;
    }
    // The run went well: a failure to flush the last records is news, and reported.
    try {
      await shared?.close();
    } finally {
      await finishJournal(journal);
    }
    return code;
  } finally {
    if (spooled) await Deno.remove(spooled).catch(() => {});
  }
}

/** For a dry run: would the journal's directory take the file? (Nothing is written.) */
async function checkJournalPlace(path: string): Promise<void> {
  const fix = "pass --journal FILE in a directory you can write to (or --no-journal)";
  const slash = path.lastIndexOf("/");
  const directory = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const info = await Deno.stat(directory).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new UsageError(`cannot create the journal ${path}: no such directory; ${fix}`);
  }
  const existing = await Deno.stat(path).catch(() => undefined);
  if (existing?.isDirectory) throw new UsageError(`the journal ${path} is a directory; ${fix}`);
}

/** Flush or close the journal after a good run: a failed final write becomes a clear message. */
async function finishJournal(journal: Journal, how: "flush" | "close" = "close"): Promise<void> {
  try {
    await (how === "flush" ? journal.flush() : journal.close());
  } catch (error) {
    if (error instanceof JournalError) {
      throw new UsageError(
        `${error.message}; the last outcomes may be missing from the journal, and a rerun ` +
          "treats those numbers as uncertain (--resend-uncertain sends them again)",
        { cause: error },
      );
    }
    throw error;
  }
}

async function openJournal(path: string, from: string, text: string | undefined): Promise<Journal> {
  try {
    return await Journal.open(path, { from, textHash: await hashMessageText(text ?? "") });
  } catch (error) {
    if (error instanceof JournalError) throw new UsageError(error.message, { cause: error });
    const fix = "pass --journal FILE in a directory you can write to (or --no-journal)";
    if (error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`cannot write the journal ${path}: run with --allow-write`);
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`cannot create the journal ${path}: no such directory; ${fix}`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`cannot create the journal ${path}: permission denied; ${fix}`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`the journal ${path} is a directory; ${fix}`);
    }
    throw error;
  }
}

/** `--redis` and its companions, checked. */
interface RedisFlags {
  url: string;
  worker: string | undefined;
  reclaimIdleMs: number;
}

function parseRedisFlags(
  values: ReturnType<typeof parseSendArgs>["values"],
): RedisFlags | undefined {
  const url = values.redis;
  if (url === undefined) {
    for (const flag of ["redis-worker", "redis-reclaim-after"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --redis URL`);
    }
    return undefined;
  }
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = "";
  }
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new UsageError(
      `--redis must be a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379), got '${url}'`,
    );
  }
  if (values.adaptive) {
    throw new UsageError(
      "--adaptive learns a limit inside one process and cannot share a Redis budget; " +
        "with --redis, give every worker the known --rate (and drop --adaptive)",
    );
  }
  const worker = values["redis-worker"];
  if (worker !== undefined && (worker.trim() === "" || worker === "(released)")) {
    throw new UsageError(`--redis-worker needs a name, got '${worker}'`);
  }
  const reclaimIdleMs = positiveNumber("redis-reclaim-after", values["redis-reclaim-after"], 60) *
    1000;
  // Live workers touch their entries every third of this: below a second, a busy
  // machine could miss a touch and lose work it is doing.
  if (reclaimIdleMs < 1000) {
    throw new UsageError(
      `--redis-reclaim-after must be at least 1 (second), got '${values["redis-reclaim-after"]}'`,
    );
  }
  return { url, worker, reclaimIdleMs };
}

/** Connect once and close: the URL is right and the server answers. */
async function checkRedis(url: string): Promise<void> {
  let connection: RedisConnection;
  try {
    connection = await connectRedis(url);
  } catch (error) {
    throw unreachable(error);
  }
  await connection.close();
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message === "" ? error.name : `${error.name}: ${error.message}`;
}

function unreachable(error: unknown): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  // connectRedis says "Cannot connect to Redis at URL: why"; it goes mid-sentence here.
  const why = message.charAt(0).toLowerCase() + message.slice(1);
  return new UsageError(`--redis: ${why.split("\n")[0]}; nothing sent`, { cause: error });
}

async function openShared(
  redis: RedisFlags,
  journal: Journal,
  digest: RecipientDigest,
  run: {
    applicationId: string;
    from: string;
    text: string | undefined;
    ratePerSecond: number;
    burst: number;
    concurrency: number;
  },
): Promise<SharedSend> {
  const worker = redis.worker ?? await defaultWorkerName(journal.path);
  if (worker === undefined) {
    throw new UsageError(
      "--redis: cannot tell this machine's name (run with --allow-sys=hostname), or name " +
        "this worker with --redis-worker NAME",
    );
  }
  try {
    return await SharedSend.open({
      redisUrl: redis.url,
      applicationId: run.applicationId,
      campaignId: campaignId({
        applicationId: run.applicationId,
        from: run.from,
        textHash: await hashMessageText(run.text ?? ""),
        recipients: digest,
      }),
      ratePerSecond: run.ratePerSecond,
      burst: run.burst,
      worker,
      previous: journal.previous,
      reclaimIdleMs: redis.reclaimIdleMs,
      // Claim about a quarter second of the shared rate at a time: few round trips at
      // high rates, and little hoarding (every worker keeps --concurrency in hand anyway).
      batchSize: Math.max(1, Math.min(16, run.concurrency, Math.ceil(run.ratePerSecond / 4))),
    });
  } catch (error) {
    if (error instanceof RedisUnreachableError) throw unreachable(error);
    throw error;
  }
}

interface SendPlan {
  journal: Journal;
  /** Set with --redis: this worker's share of a campaign shared through Redis. */
  shared: SharedSend | undefined;
  checked: Validation;
  ratePerSecond: number;
  burst: number;
  concurrency: number;
  maxTimeMs: number;
  maxTries: number;
  strategy: BackoffStrategy;
  jitter: Jitter;
  baseUrl: string;
  applicationId: string;
  privateKey: CryptoKey;
  from: string;
  text: string | undefined;
  adaptive: boolean;
  retryUncertain: boolean;
  resendUncertain: boolean;
  json: boolean;
  quiet: boolean;
}

async function send(path: string, plan: SendPlan, io: SendCommandIo): Promise<number> {
  const shared = plan.shared;
  const limiter: Limiter = shared !== undefined
    ? shared.limiter
    : plan.adaptive
    ? new AdaptiveLimiter({ maxRatePerSecond: plan.ratePerSecond, maxBurst: plan.burst })
    : new TokenBucket({ ratePerSecond: plan.ratePerSecond, burst: plan.burst });
  const client = createVonageClient({
    applicationId: plan.applicationId,
    privateKey: plan.privateKey,
    baseUrl: plan.baseUrl,
  });

  let live: Readonly<SendCounts> = emptySendCounts();
  // A worker's share of a shared queue is not known in advance: no percentage then.
  const progress = new Progress(() => ({
    ...live,
    total: shared === undefined ? plan.checked.recipients : undefined,
  }), {
    writer: stderrWriter(),
    quiet: plan.quiet,
  });

  // First Ctrl-C: admit no new sends, let in-flight ones finish. Second: leave now.
  const stop = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      progress.log(
        "stopping: letting requests in flight finish (up to 10 s); Ctrl-C again to quit at once",
      );
      stop.abort(new Error("interrupted"));
    } else {
      // Every `sending` record is already on disk; unfinished ones replay as uncertain.
      Deno.exit(130);
    }
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, onInterrupt);

  // A rerun says what it resumes: numbers left uncertain are skipped, and the user must
  // hear that, not find them folded into "skipped".
  const previous = plan.journal.replay.resumed ? tallyPrevious(plan.journal.previous) : undefined;
  if (previous !== undefined && plan.journal.path !== undefined) {
    io.stderr(describeResume(plan.journal.path, previous, plan.journal.replay.tornLines, plan));
  }

  progress.start();
  let result: SendJobResult;
  try {
    const options: SendJobOptions = {
      sendSms: (message, options) => client.sendSms(message, options),
      limiter,
      from: plan.from,
      text: plan.text ?? "",
      journal: plan.journal,
      previous: plan.journal.previous,
      concurrency: plan.concurrency,
      maxTimeMs: plan.maxTimeMs,
      maxTries: plan.maxTries,
      ratePerSecond: plan.ratePerSecond,
      burst: plan.burst,
      backoff: { strategy: plan.strategy, jitter: plan.jitter },
      easeOnThrottle: plan.adaptive ? 0 : 0.02,
      retryUncertain: plan.retryUncertain,
      resendUncertain: plan.resendUncertain,
      signal: stop.signal,
      onProgress: (counts) => (live = counts),
    };
    result = shared === undefined
      ? await runSendJob(sendable(path, plan.text), options)
      : await runSendJob(shared.recipients, {
        ...options,
        beforeSend: shared.beforeSend,
        onSettled: shared.onSettled,
      });
  } catch (error) {
    if (error instanceof JournalError) {
      // Everything recorded before the failure is on disk and replays correctly.
      throw new UsageError(
        `${error.message}; the run stopped, and what was recorded so far is safe: ` +
          "free the disk or fix the path, then rerun the same command to finish",
        { cause: error },
      );
    }
    if (shared !== undefined && !(await shared.reachable())) {
      // Not a bug: the shared server went away. Every decision is in the local journal.
      progress.stop();
      io.stderr(
        `the run stopped: lost the connection to Redis at ${shared.redisDisplayUrl} ` +
          `(${describeError(error)}). What this worker sent is in its journal, and entries ` +
          "it held stay in the queue: rerun the same command once Redis is back",
      );
      return 1;
    }
    throw error;
  } finally {
    progress.stop();
    for (const name of signals) Deno.removeSignalListener(name, onInterrupt);
  }
  await finishJournal(plan.journal, "flush");

  const summary: SendSummary & {
    stoppedBy?: string;
    journal?: string;
    previous?: Record<JournalState["state"], number>;
    worker?: string;
    queue?: QueueTotals;
  } = {
    ...result,
    // With a shared queue: this worker's share (the file's count is in `queue`).
    total: shared === undefined ? plan.checked.recipients : result.total,
    invalid: plan.checked.invalid,
    duplicates: plan.checked.duplicates,
    ratePerSecond: plan.ratePerSecond,
  };
  if (plan.journal.path !== undefined) summary.journal = plan.journal.path;
  if (previous !== undefined) summary.previous = previous;
  if (shared !== undefined) {
    summary.worker = shared.worker;
    summary.queue = await shared.totals();
  }
  if (plan.json) {
    io.stdout(JSON.stringify(summary));
  } else {
    io.stdout(
      formatSummary(summary, { color: Deno.stdout.isTerminal() && !io.env.get("NO_COLOR") }),
    );
    if (summary.queue !== undefined) io.stdout(`  ${describeQueueTotals(summary.queue)}`);
  }
  if (shared !== undefined && shared.lost > 0) {
    io.stderr(
      `${shared.lost} queue entries were completed by another worker that took them over ` +
        "first; give every worker the same, longer --redis-reclaim-after",
    );
  }
  if (result.stoppedBy === "auth") {
    io.stderr(
      `the API refused the credentials (${result.stopReason}); check VONAGE_APPLICATION_ID ` +
        "and that the private key belongs to that application. Unsent recipients stay pending.",
    );
  } else if (result.stoppedBy === "payment") {
    io.stderr(
      `the account is out of credit (${result.stopReason}); top it up and rerun: ` +
        "the journal skips everyone already sent.",
    );
  } else if (result.stoppedBy === "unexpected") {
    io.stderr(
      `the API answered ${result.stopReason}, which the Messages API does not answer for a ` +
        `message; check --base-url (${plan.baseUrl}). Unsent recipients stay pending.`,
    );
  }
  // With a shared queue, only what this worker's share skipped counts, not its whole journal.
  const leftByEarlierRuns = shared !== undefined
    ? shared.leftByEarlierRuns
    : previous === undefined
    ? 0
    : previous.failed + (plan.resendUncertain ? 0 : previous.uncertain);
  return exitCodeFor(result, leftByEarlierRuns);
}

/** How many numbers an earlier run left in each state. */
function tallyPrevious(
  previous: ReadonlyMap<string, JournalState>,
): Record<JournalState["state"], number> {
  const tally = { accepted: 0, failed: 0, uncertain: 0, pending: 0 };
  for (const { state } of previous.values()) tally[state]++;
  return tally;
}

function describeResume(
  path: string,
  tally: Record<JournalState["state"], number>,
  tornLines: number,
  plan: SendPlan,
): string {
  const skipped = plan.resendUncertain ? "accepted and failed" : "accepted, failed and uncertain";
  const uncertain = tally.uncertain === 0
    ? ""
    : plan.resendUncertain
    ? `; resending the ${tally.uncertain} uncertain (--resend-uncertain)`
    : `; the ${tally.uncertain} uncertain may have been accepted: --resend-uncertain sends ` +
      "them again";
  return `resuming ${path}: earlier runs left ${tally.accepted} accepted, ${tally.failed} ` +
    `failed, ${tally.uncertain} uncertain, ${tally.pending} pending; skipping the ${skipped}` +
    uncertain +
    (tornLines > 0 ? " (a torn last line from a crash was dropped)" : "");
}
