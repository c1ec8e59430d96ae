/**
 * `main.ts mock`: serve the mock Vonage Messages API on localhost until Ctrl-C.
 *
 * With no `--public-key` the mock makes its own RSA key pair at start and
 * writes the private key (PKCS#8 PEM, mode 0600) where a client can read it,
 * so a client can talk to it with nothing prepared.
 *
 * @module
 */

import { serveMockVonage } from "../mock/serve_mock_vonage.ts";
import type { StatusWebhookOptions } from "../mock/status_webhooks.ts";
import { generateVonageKeyPair, privateKeyToPem } from "../mock/key_pair.ts";
import { numberFlag, parseFlags } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";
import { waitForStop } from "./wait_for_stop.ts";

/** The application id the mock expects when `--app-id` is not given. */
export const DEFAULT_MOCK_APP_ID = "politely-mock-app";

/** The help text of `main.ts mock`. */
export const MOCK_USAGE: string = `Usage: main.ts mock [options]

Serves a mock of the Vonage Messages API (POST /v1/messages, SMS) on 127.0.0.1,
with JWT auth, a token-bucket rate limit and optional faults. Also serves
GET /stats (counts, per-second series) and GET /messages (what was accepted).
Stop it with Ctrl-C.

Options:
  --port N                port to listen on; 0 picks a free one (default 8787)
  --rate N                requests per second allowed; 0 means no limit (default 1)
  --burst N               requests allowed at once after a quiet spell (default 1)
  --public-key FILE       your application's public key (SPKI PEM); tokens must be
                          signed with its private key. Without it the mock makes a
                          key pair and writes the private key (see below)
  --write-private-key FILE
                          where to write the private key of the key pair the mock
                          makes (PKCS#8 PEM, mode 0600, kept after exit). Without it
                          the key goes to a temporary file politely-mock-PID-….key,
                          removed at exit (Ctrl-C, SIGTERM, SIGHUP, an error); one left
                          by a mock killed outright is removed by the next mock
  --app-id ID             application id tokens must carry (default ${DEFAULT_MOCK_APP_ID})
  --retry-after           send Retry-After on 429 (real Vonage does not promise it)
  --ratelimit-headers     send the IETF RateLimit and RateLimit-Policy headers
  --fail-rate X           share of acceptable requests answered 500, 0 to 1;
                          those messages are not accepted (default 0)
  --fail-status N         what --fail-rate answers: 500, 502, 503, 504, or 402
                          (out of credit) (default 500)
  --drop-rate X           share of acceptable requests accepted and then hung up
                          on with no answer, 0 to 1 (default 0)
  --latency MS            milliseconds every answer is held (default 0)
  --seed N                seed of the fault draws, to replay a run (default random)
  --senders LIST          the account's senders, comma-separated: any other 'from' is
                          refused 422 naming 'from' (default: any valid sender)
  -h, --help              show this help

Status webhooks (delivery receipts), posted for each accepted message to its
webhook_url or --status-url, signed as Vonage signs them, retried on 5xx:
  --signature-secret S    the secret they are signed with; turns them on (default:
                          the variable VONAGE_SIGNATURE_SECRET, if readable)
  --status-url URL        where they go for messages sent without webhook_url
  --status-delay SECONDS  wait before each of a message's webhooks (default 1)
  --rejected-rate X       share of messages rejected, 0 to 1 (default 0)
  --undeliverable-rate X  share of messages undeliverable, 0 to 1 (default 0)
  --price AMOUNT          price of each submitted message (default 0.0333)
  --currency CODE         currency of --price (default EUR)

Point a client at it with:
  VONAGE_APPLICATION_ID=<app id> VONAGE_PRIVATE_KEY_PATH=<private key> \\
    main.ts send recipients.csv --text "Hi" --base-url http://127.0.0.1:<port>
`;

/** Where {@linkcode runMockCommand} writes, and what stops it. */
export interface MockCommandIo {
  /**
   * Receives standard output, a line at a time. The first line names the URL.
   *
   * @default {console.log}
   */
  stdout?: (line: string) => void;
  /**
   * Stops the server as Ctrl-C does (for running the command in-process).
   *
   * @default {undefined: only SIGINT and SIGTERM stop it}
   */
  signal?: AbortSignal;
}

interface MockFlags {
  help: boolean;
  port: number;
  ratePerSecond: number;
  burst: number;
  publicKeyPath: string | undefined;
  writePrivateKey: string | undefined;
  applicationId: string;
  retryAfter: boolean;
  rateLimitHeaders: boolean;
  failRate: number;
  failStatus: 402 | 500 | 502 | 503 | 504;
  dropRate: number;
  latencyMs: number;
  seed: number | undefined;
  webhooks: StatusWebhookOptions | undefined;
  senders: string[] | undefined;
}

function parseSenders(list: string): string[] {
  const senders = list.split(",").map((sender) => sender.trim()).filter((s) => s !== "");
  if (senders.length === 0) {
    throw new UsageError(`--senders needs at least one sender, e.g. --senders Acme,14155550100`);
  }
  return senders;
}

function parseMockFlags(args: string[]): MockFlags {
  const { values } = parseFlags("mock", args, {
    port: { type: "string" },
    rate: { type: "string" },
    burst: { type: "string" },
    "public-key": { type: "string" },
    "write-private-key": { type: "string" },
    "app-id": { type: "string" },
    "retry-after": { type: "boolean" },
    "ratelimit-headers": { type: "boolean" },
    "fail-rate": { type: "string" },
    "fail-status": { type: "string" },
    "drop-rate": { type: "string" },
    latency: { type: "string" },
    seed: { type: "string" },
    senders: { type: "string" },
    "signature-secret": { type: "string" },
    "status-url": { type: "string" },
    "status-delay": { type: "string" },
    "rejected-rate": { type: "string" },
    "undeliverable-rate": { type: "string" },
    price: { type: "string" },
    currency: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  const failRate = values["fail-rate"] === undefined ? 0 : numberFlag(
    "fail-rate",
    values["fail-rate"],
    { min: 0, max: 1, what: "a share from 0 to 1 (0.1 is 10%)" },
  );
  const dropRate = values["drop-rate"] === undefined ? 0 : numberFlag(
    "drop-rate",
    values["drop-rate"],
    { min: 0, max: 1, what: "a share from 0 to 1 (0.1 is 10%)" },
  );
  const failStatus = Number(values["fail-status"] ?? 500);
  if (
    failStatus !== 402 && failStatus !== 500 && failStatus !== 502 && failStatus !== 503 &&
    failStatus !== 504
  ) {
    throw new UsageError(
      `--fail-status must be 500, 502, 503, 504 or 402, got ${
        JSON.stringify(values["fail-status"])
      }`,
    );
  }
  if (failRate + dropRate > 1) {
    throw new UsageError(
      `--fail-rate and --drop-rate add up to ${
        failRate + dropRate
      }; together they must be at most 1`,
    );
  }
  const publicKeyPath = values["public-key"];
  const writePrivateKey = values["write-private-key"];
  if (publicKeyPath !== undefined && writePrivateKey !== undefined) {
    throw new UsageError(
      "--write-private-key writes the key pair the mock makes when there is no --public-key; " +
        "give one or the other",
    );
  }
  const webhooks = parseWebhookFlags(values);
  const applicationId = values["app-id"] ?? DEFAULT_MOCK_APP_ID;
  if (applicationId.trim() === "") throw new UsageError("--app-id must not be empty");
  return {
    help: values.help ?? false,
    port: values.port === undefined ? 8787 : numberFlag("port", values.port, {
      min: 0,
      max: 65_535,
      integer: true,
      what: "a port number from 0 to 65535 (0 picks a free one)",
    }),
    ratePerSecond: values.rate === undefined ? 1 : numberFlag("rate", values.rate, {
      min: 0,
      what: "a number of requests per second, 0 for no limit",
    }),
    burst: values.burst === undefined ? 1 : numberFlag("burst", values.burst, {
      min: 1,
      what: "a number of at least 1",
    }),
    publicKeyPath,
    writePrivateKey,
    applicationId,
    retryAfter: values["retry-after"] ?? false,
    rateLimitHeaders: values["ratelimit-headers"] ?? false,
    failRate,
    failStatus,
    dropRate,
    latencyMs: values.latency === undefined ? 0 : numberFlag("latency", values.latency, {
      min: 0,
      what: "a number of milliseconds, 0 or more",
    }),
    seed: values.seed === undefined ? undefined : numberFlag("seed", values.seed, {
      min: 0,
      max: 2 ** 31 - 1,
      integer: true,
      what: "an integer from 0 to 2147483647",
    }),
    webhooks,
    senders: values.senders === undefined ? undefined : parseSenders(values.senders),
  };
}

/** The status webhook flags: on with a secret, which `--status-url` needs. */
function parseWebhookFlags(
  values: Record<string, string | boolean | undefined>,
): StatusWebhookOptions | undefined {
  const text = (name: string) => values[name] as string | undefined;
  const share = (name: string) =>
    text(name) === undefined ? 0 : numberFlag(name, text(name)!, {
      min: 0,
      max: 1,
      what: "a share from 0 to 1 (0.05 is 5%)",
    });
  let secret = text("signature-secret");
  if (secret === undefined) {
    const variable = "VONAGE_SIGNATURE_SECRET";
    const permission = Deno.permissions.querySync({ name: "env", variable });
    if (permission.state === "granted") secret = Deno.env.get(variable) || undefined;
  }
  const url = text("status-url");
  if (secret === undefined || secret === "") {
    const needsSecret = ["status-url", "status-delay", "rejected-rate", "undeliverable-rate"]
      .find((name) => text(name) !== undefined);
    if (needsSecret !== undefined) {
      throw new UsageError(
        `--${needsSecret} is about status webhooks, which are signed: give --signature-secret ` +
          `(the same secret the receipts server checks)`,
      );
    }
    return undefined;
  }
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) {
    throw new UsageError(`--status-url must be an http:// or https:// URL, got '${url}'`);
  }
  const rejectedRate = share("rejected-rate");
  const undeliverableRate = share("undeliverable-rate");
  if (rejectedRate + undeliverableRate > 1) {
    throw new UsageError(
      `--rejected-rate and --undeliverable-rate add up to ${
        rejectedRate + undeliverableRate
      }; together they must be at most 1`,
    );
  }
  const price = text("price") ?? "0.0333";
  if (!/^\d+(\.\d+)?$/.test(price)) {
    throw new UsageError(`--price must be a decimal amount like 0.0333, got '${price}'`);
  }
  const delaySeconds = text("status-delay") === undefined
    ? 1
    : numberFlag("status-delay", text("status-delay")!, {
      min: 0,
      what: "a number of seconds, 0 or more",
    });
  return {
    signatureSecret: secret,
    ...(url === undefined ? {} : { url }),
    delayMs: delaySeconds * 1000,
    rejectedRate,
    undeliverableRate,
    price,
    currency: text("currency") ?? "EUR",
  };
}

/** Wrap base64 at 64 characters, as PEM readers expect. */
/** Write a secret so that only its owner can read it, even if the file existed. */
async function writeSecretFile(path: string, text: string): Promise<void> {
  if (Deno.build.os !== "windows") {
    try {
      await Deno.chmod(path, 0o600);
    } catch (error: unknown) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

interface KeyMaterial {
  publicKey: string | CryptoKey;
  /** Where the private key was written, when the mock made the pair. */
  privateKeyPath?: string;
  /** Remove the private key file at exit (it was a temporary file). */
  temporary: boolean;
}

async function loadOrMakeKey(flags: MockFlags): Promise<KeyMaterial> {
  if (flags.publicKeyPath !== undefined) {
    try {
      return { publicKey: await Deno.readTextFile(flags.publicKeyPath), temporary: false };
    } catch (error: unknown) {
      const why = error instanceof Error ? error.message : String(error);
      throw new UsageError(`cannot read --public-key ${flags.publicKeyPath}: ${why}`);
    }
  }
  const pair = await generateVonageKeyPair({ extractable: true });
  const pem = await privateKeyToPem(pair.privateKey);
  const temporary = flags.writePrivateKey === undefined;
  const path = flags.writePrivateKey ?? await makeTemporaryKeyPath();
  try {
    await writeSecretFile(path, pem);
  } catch (error: unknown) {
    const why = error instanceof Error ? error.message : String(error);
    throw new UsageError(`cannot write --write-private-key ${path}: ${why}`);
  }
  return { publicKey: pair.publicKey, privateKeyPath: path, temporary };
}

/**
 * A temporary key file named after this process (`politely-mock-PID-….key` in the
 * temporary folder, mode 0600). It is removed at every exit the mock can catch; one
 * left by a mock killed outright is removed here, by the next mock, once no process
 * has its PID (Linux: `/proc/PID`; elsewhere it stays, and its name says whose it was).
 */
async function makeTemporaryKeyPath(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: `politely-mock-${Deno.pid}-`, suffix: ".key" });
  if (Deno.build.os === "linux") {
    const folder = path.slice(0, path.lastIndexOf("/"));
    try {
      for await (const entry of Deno.readDir(folder)) {
        const pid = /^politely-mock-(\d+)-.*\.key$/.exec(entry.name)?.[1];
        if (pid === undefined || Number(pid) === Deno.pid) continue;
        const alive = await Deno.stat(`/proc/${pid}`).then(() => true, () => false);
        if (!alive) await Deno.remove(`${folder}/${entry.name}`).catch(() => {});
      }
    } catch {
      // The folder cannot be listed: leftovers stay, named after their process.
    }
  }
  return path;
}

function describeLimit(flags: MockFlags): string {
  return flags.ratePerSecond === 0 || flags.ratePerSecond === Infinity
    ? "no rate limit"
    : `rate ${flags.ratePerSecond}/s, burst ${flags.burst}`;
}

/**
 * Run `main.ts mock` with the arguments after `mock`. Serves until SIGINT,
 * SIGTERM or `io.signal`, then shuts down cleanly and resolves to 0.
 *
 * @throws {UsageError} for a bad flag, an unreadable key file or a port in use:
 * `main.ts` prints its one-line message and exits 2.
 *
 * @example Running the mock in-process for a while
 * ```ts
 * import { runMockCommand } from "./mock_command.ts";
 *
 * const code = await runMockCommand(["--port", "0", "--rate", "5"], {
 *   signal: AbortSignal.timeout(1_000),
 * });
 * console.log(code); // 0
 * ```
 */
export async function runMockCommand(args: string[], io: MockCommandIo = {}): Promise<number> {
  const { stdout = console.log, signal } = io;
  const flags = parseMockFlags(args);
  if (flags.help) {
    stdout(MOCK_USAGE);
    return 0;
  }
  const key = await loadOrMakeKey(flags);
  let server;
  try {
    server = await serveMockVonage({
      port: flags.port,
      publicKey: key.publicKey,
      applicationId: flags.applicationId,
      ratePerSecond: flags.ratePerSecond,
      burst: flags.burst,
      retryAfter: flags.retryAfter,
      rateLimitHeaders: flags.rateLimitHeaders,
      failRate: flags.failRate,
      failStatus: flags.failStatus,
      dropRate: flags.dropRate,
      latencyMs: flags.latencyMs,
      ...(flags.seed === undefined ? {} : { seed: flags.seed }),
      ...(flags.webhooks === undefined ? {} : { statusWebhooks: flags.webhooks }),
      ...(flags.senders === undefined ? {} : { senders: flags.senders }),
    });
  } catch (error: unknown) {
    if (key.temporary && key.privateKeyPath) await Deno.remove(key.privateKeyPath);
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `port ${flags.port} is already in use; pick another with --port (0 picks a free one)`,
      );
    }
    if (error instanceof TypeError && flags.publicKeyPath !== undefined) {
      throw new UsageError(`--public-key ${flags.publicKeyPath}: ${error.message}`);
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(error.message);
    }
    throw error;
  }

  const stop = waitForStop(signal);
  try {
    stdout(`mock Vonage Messages API listening on ${server.url} (${describeLimit(flags)})`);
    stdout(`  application id: ${flags.applicationId}`);
    if (key.privateKeyPath !== undefined) {
      const fate = key.temporary ? "removed at exit" : "kept";
      stdout(`  private key:    ${key.privateKeyPath} (made at start, ${fate})`);
    } else {
      stdout(`  public key:     ${flags.publicKeyPath}`);
    }
    const faults = [
      flags.failRate > 0 ? `${flags.failStatus} for ${flags.failRate * 100}%` : "",
      flags.dropRate > 0 ? `dropped ${flags.dropRate * 100}%` : "",
      flags.latencyMs > 0 ? `latency ${flags.latencyMs} ms` : "",
    ].filter((part) => part !== "");
    if (faults.length > 0) {
      stdout(`  faults:         ${faults.join(", ")}, seed ${server.stats().seed}`);
    }
    if (flags.webhooks !== undefined) {
      const { url, delayMs, rejectedRate = 0, undeliverableRate = 0 } = flags.webhooks;
      stdout(
        `  webhooks:       to ${url ?? "each message's webhook_url"}, ${delayMs! / 1000} s apart, ${
          rejectedRate * 100
        }% rejected, ${undeliverableRate * 100}% undeliverable`,
      );
    }
    stdout(
      `  endpoints:      POST ${server.url}/v1/messages, GET /stats, GET /messages, GET /webhooks`,
    );
    stdout("Press Ctrl-C to stop.");
    await stop.stopped;
  } finally {
    stop.dispose();
    await server.shutdown();
    if (key.temporary && key.privateKeyPath) await Deno.remove(key.privateKeyPath);
  }
  const stats = server.stats();
  stdout(
    `stopped: ${stats.arrivals} requests, ${stats.accepted} accepted, ${stats.throttled} throttled`,
  );
  return 0;
}
