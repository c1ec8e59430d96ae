/**
 * `main.ts send`'s flags and environment, read and checked before anything is
 * read or sent: every mistake here is a usage error (exit 2) that names the fix.
 *
 * @module
 */

import { BACKOFF_STRATEGIES, type BackoffStrategy, type Jitter, JITTERS } from "../core/backoff.ts";
import { parseFlags, positiveInteger, positiveNumber } from "./parse_flags.ts";
import { httpUrl, urlWithProtocol } from "../core/parse_url.ts";
import type { SendCommandIo } from "./send_io.ts";
import { MessageTemplate } from "../send/message_template.ts";
import { isCountryCode } from "../send/phone_number.ts";
import { checkSenderId } from "../send/sender_id.ts";
import { UsageError } from "./usage_error.ts";

/** `main.ts send --help`. */
export const SEND_HELP: string = `Usage: main.ts send RECIPIENTS|- --text TEXT [options]

Send one SMS to each recipient through the Vonage Messages API, as fast as the
rate allows and never faster. Every outcome goes to a journal, so a rerun skips
recipients already decided and a crash never sends twice.

Recipients: CSV with a header naming the phone column (to, phone, number, msisdn,
mobile; optional text and client_ref columns), JSON Lines ({"to": ..., "text"?: ...}),
or one number per line. Numbers are checked by the rules of their country: without
--default-country they are read as international (+ or 00 optional, country code first).

Message:
  --text TEXT            the message (a per-recipient text overrides it); {{column}}
                         is replaced by the recipient's value of that CSV column or
                         JSON Lines field
  --from FROM            sender: a number (7-15 digits, country code first) or an id of
                         1-11 letters, digits and spaces [env VONAGE_FROM]
  --default-country CC   read national numbers of this country (ISO code: US, GB, DE)
  --price-per-segment P  price of one SMS part, to estimate the cost (any currency)
Pacing and retries:
  --rate N               requests per second at most (default 1: the US outbound SMS
                         limit); 429s without a hint teach it a lower one when needed
  --burst N              requests allowed at once above the rate (default 1)
  --concurrency N        most requests in flight (default 16)
  --adaptive             the limit is unknown: start at 10/s (or --rate if lower) and
                         double until the first 429, then learn it (never above --rate)
  --max-time S           seconds one message may keep retrying (default 300)
  --max-tries N          attempts per message, counting the first (default: no limit)
  --timeout S            seconds to wait for one request's answer before it counts as
                         uncertain (default 30)
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
  --redis-reclaim-after S
                         take over a silent (dead) worker's entries after S seconds
                         (default 60; the same on every worker). What it may have sent is
                         recorded uncertain, never sent twice (unless --resend-uncertain)
  --redis-outage S       wait up to S seconds for Redis to come back after a dropped
                         connection before stopping (default 30)
  --redis-recover        after Redis lost the campaign's state (a worker stopped with exit
                         2 and said so): add what this worker's journal decided to Redis,
                         send nothing. Run it on every worker, then the usual command

Examples:
  # Against the local mock (start 'main.ts mock --write-private-key mock.key' first):
  VONAGE_APPLICATION_ID=politely-mock-app VONAGE_PRIVATE_KEY_PATH=mock.key \\
    main.ts send fixtures/recipients.csv --text "Hi {{name}}" --from Acme \\
    --base-url http://127.0.0.1:8787
  # Check a list of British numbers, the text and the credentials; send nothing:
  main.ts send people.csv --text "Hi {{name}}" --from Acme --default-country GB --dry-run
  # Send it at 30 a second; run the same line again to finish after a stop or a crash:
  main.ts send people.csv --text "Hi {{name}}" --from Acme --default-country GB --rate 30

Credentials: VONAGE_APPLICATION_ID, and VONAGE_PRIVATE_KEY_PATH (the private.key
file) or VONAGE_PRIVATE_KEY (the PEM text).

Exit codes: 0 all accepted; 1 some failed or uncertain (or out of credit);
2 usage, input, credential or endpoint error, or a 422 about the request itself
(from, text: the same for everyone) (nothing more sent); 130 interrupted.
`;

const BACKOFF_NAMES: Record<string, BackoffStrategy> = {
  expo: "exponential",
  exponential: "exponential",
  fibo: "fibonacci",
  fibonacci: "fibonacci",
  constant: "constant",
  linear: "linear",
};

function parseSendArgs(args: string[]) {
  return parseFlags("send", args, {
    text: { type: "string" },
    from: { type: "string" },
    "default-country": { type: "string" },
    "price-per-segment": { type: "string" },
    rate: { type: "string" },
    burst: { type: "string" },
    concurrency: { type: "string" },
    adaptive: { type: "boolean" },
    "max-time": { type: "string" },
    "max-tries": { type: "string" },
    timeout: { type: "string" },
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
    "redis-recover": { type: "boolean" },
    "redis-outage": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, { allowPositionals: true });
}

/** `--redis` and its companions, checked. */
export interface RedisFlags {
  url: string;
  worker: string | undefined;
  reclaimIdleMs: number;
  /** `--redis-outage`: how long a lost connection to Redis is waited out. */
  outageMs: number;
  /** `--redis-recover`: seed the campaign's decided set from the journal, send nothing. */
  recover: boolean;
}

/** Everything `send` was told, checked. */
export interface SendFlags {
  /** The recipients file, or `-` for standard input. */
  input: string;
  /** `--text` as given: the template, which the journal's text check compares. */
  text: string | undefined;
  /** `--text` parsed, placeholders and all. */
  template: MessageTemplate | undefined;
  /** The sender as it goes to the API (a number's digits without `+`). */
  from: string;
  /** `--default-country`, upper case. */
  defaultCountry: string | undefined;
  /** `--price-per-segment`. */
  pricePerSegment: number | undefined;
  ratePerSecond: number;
  burst: number;
  concurrency: number;
  /** How long one request may wait for its answer (`--timeout`, seconds on the command line). */
  timeoutMs: number;
  maxTimeMs: number;
  maxTries: number;
  strategy: BackoffStrategy;
  jitter: Jitter;
  baseUrl: string;
  /** `--journal`, if given. */
  journal: string | undefined;
  noJournal: boolean;
  redis: RedisFlags | undefined;
  applicationId: string;
  adaptive: boolean;
  retryUncertain: boolean;
  resendUncertain: boolean;
  skipInvalid: boolean;
  dryRun: boolean;
  json: boolean;
  quiet: boolean;
}

/**
 * Read `send`'s arguments and environment; `"help"` when help was asked for.
 *
 * @example Reading a minimal command line
 * ```ts
 * import { readSendFlags } from "./send_flags.ts";
 *
 * const env = new Map([["VONAGE_APPLICATION_ID", "app"]]);
 * const flags = readSendFlags(["people.csv", "--text", "Hi", "--from", "Acme"], env);
 * if (flags !== "help") console.log(flags.ratePerSecond, flags.concurrency); // 1 16
 * ```
 */
export function readSendFlags(args: string[], env: SendCommandIo["env"]): SendFlags | "help" {
  const { values, positionals } = parseSendArgs(args);
  if (values.help) return "help";
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
  let template: MessageTemplate | undefined;
  try {
    template = text === undefined ? undefined : MessageTemplate.parse(text);
  } catch (error) {
    throw new UsageError(`--text: ${(error as SyntaxError).message}`);
  }
  const givenFrom = values.from ?? env.get("VONAGE_FROM");
  if (givenFrom === undefined || givenFrom.trim() === "") {
    throw new UsageError("no sender: pass --from NUMBER (or set VONAGE_FROM)");
  }
  // Vonage refuses a bad sender for every message alike: stop here, before any request.
  const sender = checkSenderId(givenFrom);
  if (!sender.ok) {
    throw new UsageError(
      `${values.from === undefined ? "VONAGE_FROM" : "--from"}: ${sender.reason}; nothing sent`,
    );
  }
  const givenCountry = values["default-country"];
  const defaultCountry = givenCountry?.trim().toUpperCase();
  if (defaultCountry !== undefined && !isCountryCode(defaultCountry)) {
    throw new UsageError(
      `--default-country must be a two-letter ISO 3166 country code such as US, GB or DE, ` +
        `got '${givenCountry}'`,
    );
  }
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
  if (httpUrl(baseUrl) === undefined) {
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
  const applicationId = env.get("VONAGE_APPLICATION_ID");
  if (applicationId === undefined || applicationId.trim() === "") {
    throw new UsageError(
      "no application id: set VONAGE_APPLICATION_ID (from the Vonage dashboard or 'vonage apps')",
    );
  }
  return {
    input,
    text,
    template,
    from: sender.from,
    defaultCountry,
    pricePerSegment: values["price-per-segment"] === undefined
      ? undefined
      : positiveNumber("price-per-segment", values["price-per-segment"], 0),
    ratePerSecond: positiveNumber("rate", values.rate, 1),
    burst: positiveInteger("burst", values.burst, 1),
    concurrency: positiveInteger("concurrency", values.concurrency, 16),
    maxTimeMs: positiveNumber("max-time", values["max-time"], 300) * 1000,
    maxTries: positiveInteger("max-tries", values["max-tries"], Infinity),
    timeoutMs: timeoutMs(values.timeout),
    strategy,
    jitter,
    baseUrl,
    journal: values.journal,
    noJournal: values["no-journal"] ?? false,
    redis,
    applicationId,
    adaptive: values.adaptive ?? false,
    retryUncertain: values["retry-uncertain"] ?? false,
    resendUncertain: values["resend-uncertain"] ?? false,
    skipInvalid: values["skip-invalid"] ?? false,
    dryRun: values["dry-run"] ?? false,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
}

/** `--timeout S`: positive, and at most a day (a longer timer would fire at once). */
function timeoutMs(raw: string | undefined): number {
  const seconds = positiveNumber("timeout", raw, 30);
  if (seconds > 86_400) {
    throw new UsageError(`--timeout must be at most 86400 (a day, in seconds), got '${raw}'`);
  }
  return seconds * 1000;
}

function parseRedisFlags(
  values: ReturnType<typeof parseSendArgs>["values"],
): RedisFlags | undefined {
  const url = values.redis;
  if (url === undefined) {
    const flags = ["redis-worker", "redis-reclaim-after", "redis-recover", "redis-outage"] as const;
    for (const flag of flags) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --redis URL`);
    }
    return undefined;
  }
  if (urlWithProtocol(url, ["redis:", "rediss:"]) === undefined) {
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
  const recover = values["redis-recover"] ?? false;
  if (recover && values["no-journal"]) {
    throw new UsageError(
      "--redis-recover adds what this worker's journal decided to Redis: it needs the " +
        "journal (drop --no-journal)",
    );
  }
  const outageMs = positiveNumber("redis-outage", values["redis-outage"], 30) * 1000;
  return { url, worker, reclaimIdleMs, recover, outageMs };
}
