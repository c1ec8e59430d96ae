/**
 * `main.ts receipts JOURNAL…`: receive Vonage's signed status webhooks for these
 * campaigns until Ctrl-C, writing each verified receipt beside its journal.
 *
 * @module
 */

import { ReceiptsFileError } from "../receipts/receipts_file.ts";
import { receiptsPathFor, unmatchedPathFor } from "../receipts/receipts_app.ts";
import { type ReceiptsServer, serveReceipts } from "../receipts/serve_receipts.ts";
import { parseFlags, positiveNumber } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";
import { ThrottledLog } from "./throttled_log.ts";
import { waitForStop } from "./wait_for_stop.ts";

/** The variable the signature secret is read from when `--signature-secret` is not given. */
export const SIGNATURE_SECRET_VARIABLE = "VONAGE_SIGNATURE_SECRET";

const HELP = `Usage: main.ts receipts JOURNAL [JOURNAL…] [options]

Receives the Vonage Messages API's status webhooks (delivery receipts) for the
campaigns whose journals are given, and writes each one, once, to
JOURNAL.receipts.jsonl beside its journal before answering 200. Webhooks must be
signed with your signature secret (HS256 JWT whose payload_hash matches the
body, issued in the last --max-age seconds, never used before); anything else
gets 401 and is written nowhere. Point your application's status URL (or the
mock's --status-url) at this server; any path works. See the counts with
'main.ts report JOURNAL' while it runs. Stop it with Ctrl-C.

Options:
  --port N               port to listen on; 0 picks a free one (default 8788)
  --host ADDR            address to listen on (default 127.0.0.1: this machine only;
                         0.0.0.0 to be reached from elsewhere, e.g. behind a tunnel)
  --signature-secret S   your account's signature secret (default: the variable
                         ${SIGNATURE_SECRET_VARIABLE}, which keeps it out of 'ps')
  --max-age SECONDS      how old a webhook's token may be (default 300)
  -h, --help             show this help
`;

/** Where {@linkcode runReceiptsCommand} writes, and what stops it. */
export interface ReceiptsCommandIo {
  /**
   * Standard output, a line at a time; the first line names the URL.
   *
   * @default {console.log}
   */
  stdout?: (line: string) => void;
  /**
   * Standard error: one line per refused webhook.
   *
   * @default {console.error}
   */
  stderr?: (line: string) => void;
  /**
   * Stops the server as Ctrl-C does.
   *
   * @default {undefined: only SIGINT and SIGTERM stop it}
   */
  signal?: AbortSignal;
}

function readSecret(flag: string | undefined): string {
  if (flag !== undefined) {
    if (flag === "") throw new UsageError("--signature-secret must not be empty");
    return flag;
  }
  const permission = Deno.permissions.querySync({
    name: "env",
    variable: SIGNATURE_SECRET_VARIABLE,
  });
  const fromEnv = permission.state === "granted"
    ? Deno.env.get(SIGNATURE_SECRET_VARIABLE)
    : undefined;
  if (fromEnv === undefined || fromEnv === "") {
    throw new UsageError(
      `receipts: no signature secret; set ${SIGNATURE_SECRET_VARIABLE} (and run with ` +
        `--allow-env) or pass --signature-secret. It is in your Vonage dashboard under ` +
        `API settings; with the mock, use the secret you gave its --signature-secret`,
    );
  }
  return fromEnv;
}

/**
 * Run `main.ts receipts`; serves until SIGINT, SIGTERM or `io.signal`, then finishes the
 * webhooks in flight, closes the files and resolves to 0.
 *
 * @throws {UsageError} for a bad flag, a missing secret, a port in use or a receipts
 * file in use or damaged: `main.ts` prints its message and exits 2.
 *
 * @example Serving for a while in-process
 * ```ts ignore
 * import { runReceiptsCommand } from "./receipts_command.ts";
 *
 * await runReceiptsCommand(["people.csv.journal.jsonl", "--port", "0", "--signature-secret", "s"], {
 *   signal: AbortSignal.timeout(1_000),
 * });
 * ```
 */
export async function runReceiptsCommand(
  args: string[],
  io: ReceiptsCommandIo = {},
): Promise<number> {
  const { stdout = console.log, stderr = console.error, signal } = io;
  const { values, positionals } = parseFlags("receipts", args, {
    port: { type: "string" },
    host: { type: "string" },
    "signature-secret": { type: "string" },
    "max-age": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, { allowPositionals: true });
  if (values.help) {
    stdout(HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError(
      "receipts: name the journal of each campaign (e.g. people.csv.journal.jsonl); " +
        "see 'main.ts receipts --help'",
    );
  }
  const port = values.port === undefined ? 8788 : Number(values.port);
  if (!(/^\d+$/.test(values.port ?? "0") && port <= 65_535)) {
    throw new UsageError(`--port must be a port number from 0 to 65535, got '${values.port}'`);
  }
  const maxAgeMs = positiveNumber("max-age", values["max-age"], 300) * 1000;
  const signatureSecret = readSecret(values["signature-secret"]);
  const hostname = values.host ?? "127.0.0.1";

  // A flood of one refusal (a wrong secret, a prober) is a line per 10 s, not per request.
  const problems = new ThrottledLog(stderr);
  let server: ReceiptsServer;
  try {
    server = await serveReceipts({
      journals: positionals,
      signatureSecret,
      port,
      hostname,
      maxAgeMs,
      onProblem: (line) => problems.write(`receipts: ${line}`),
    });
  } catch (error: unknown) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `port ${port} is already in use; pick another with --port (0 picks a free one)`,
      );
    }
    if (error instanceof ReceiptsFileError) throw new UsageError(error.message);
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `receipts: ${error.message}; the directory of each journal must exist (the receipts ` +
          `file is written beside it)`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) throw new UsageError(error.message);
    if (error instanceof Error && /is not a politely journal/.test(error.message)) {
      throw new UsageError(error.message);
    }
    throw error;
  }

  const stop = waitForStop(signal);
  try {
    stdout(`receipts server listening on ${server.url} (POST status webhooks to any path)`);
    for (const journal of positionals) {
      const missing = await Deno.stat(journal).then(() => false, () => true);
      stdout(
        `  ${journal} -> ${receiptsPathFor(journal)}${
          missing ? " (no journal yet: receipts are matched once send writes it)" : ""
        }`,
      );
    }
    if (positionals.length > 1) {
      stdout(`  receipts no journal knows -> ${unmatchedPathFor(positionals[0]!)}`);
    }
    stdout("Press Ctrl-C to stop.");
    await stop.stopped;
  } finally {
    stop.dispose();
    await server.shutdown();
    problems.flush();
  }
  const stats = server.stats();
  stdout(
    `stopped: ${stats.recorded} receipts written, ${stats.duplicates} duplicates, ` +
      `${stats.refused} refused (401), ${stats.invalid} invalid, ${stats.failed} not written (503)`,
  );
  return 0;
}
