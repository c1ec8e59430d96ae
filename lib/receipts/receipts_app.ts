/**
 * The receipts server as a Hono app: Vonage's signed status webhooks in, each verified
 * (401 otherwise) and written once to its campaign's receipts file before the 200, so
 * Vonage's retries make sure none is lost. The design: `docs/receipts.md`.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { type Clock, realClock } from "../core/clock.ts";
import { readBoundedBody } from "../core/read_bounded_body.ts";
import { Hono } from "../deps/hono.ts";
import { verifyWebhookSignature } from "../vonage/webhook_signature.ts";
import { JournalReader } from "./journal_reader.ts";
import { receiptKey, ReceiptsFile } from "./receipts_file.ts";
import { SeenTokens } from "./seen_tokens.ts";
import { parseStatusReceipt, type StatusReceipt } from "./status_receipt.ts";

/**
 * Where a campaign's receipts go: beside its journal, named after it whole.
 *
 * @example The receipts file of a journal
 * ```ts
 * import { receiptsPathFor } from "./receipts_app.ts";
 *
 * console.log(receiptsPathFor("people.csv.journal.jsonl")); // people.csv.journal.jsonl.receipts.jsonl
 * ```
 */
export function receiptsPathFor(journalPath: string): string {
  return `${journalPath}.receipts.jsonl`;
}

/**
 * Where receipts that match no campaign (yet) go: `unmatched.receipts.jsonl` in the
 * journal's directory.
 *
 * @example The unmatched file beside a journal
 * ```ts
 * import { unmatchedPathFor } from "./receipts_app.ts";
 *
 * console.log(unmatchedPathFor("runs/people.csv.journal.jsonl")); // runs/unmatched.receipts.jsonl
 * ```
 */
export function unmatchedPathFor(journalPath: string): string {
  return join(dirname(journalPath), "unmatched.receipts.jsonl");
}

/**
 * Options for {@linkcode createReceiptsApp}.
 *
 * @example Receiving for one campaign
 * ```ts
 * import type { ReceiptsAppOptions } from "./receipts_app.ts";
 *
 * const options: ReceiptsAppOptions = {
 *   journals: ["people.csv.journal.jsonl"],
 *   signatureSecret: "the account's signature secret",
 * };
 * console.log(options.journals.length); // 1
 * ```
 */
export interface ReceiptsAppOptions {
  /** The campaigns' journals (at least one); each gets its receipts file beside it. Required. */
  journals: string[];
  /** The account's signature secret, which every webhook must be signed with. Required. */
  signatureSecret: string;
  /**
   * The wall clock for `iat` checks and timestamps (epoch milliseconds).
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * How old a webhook's token may be, in milliseconds; also how long a `jti` is
   * remembered to refuse a replay.
   *
   * @default {300000}
   */
  maxAgeMs?: number;
  /**
   * Largest webhook body accepted, in bytes (413 above).
   *
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * Called for each webhook refused or not written, with one line saying why; for a log.
   *
   * @default {() => {}}
   */
  onProblem?: (line: string) => void;
}

/**
 * What the receipts server has done since it started (`GET /stats`).
 *
 * @example Reading the counts
 * ```ts
 * import type { ReceiptsStats } from "./receipts_app.ts";
 *
 * const stats: ReceiptsStats = { recorded: 3, duplicates: 1, unmatched: 0, refused: 2, invalid: 0, failed: 0 };
 * console.log(stats.recorded + stats.duplicates); // 4 webhooks answered 200
 * ```
 */
export interface ReceiptsStats {
  /** Receipts written (answered 200). */
  recorded: number;
  /** Webhooks whose receipt was already written (answered 200, written nowhere). */
  duplicates: number;
  /** Of `recorded`, those written to the unmatched file. */
  unmatched: number;
  /** Refused with 401: unsigned, forged, tampered, stale or replayed. Written nowhere. */
  refused: number;
  /** Signed but not a status webhook (400, 413, 422). Written nowhere. */
  invalid: number;
  /** Not written because the disk failed (503: Vonage retries). */
  failed: number;
}

/**
 * A receipts server without its socket: the Hono app, its counts, and `close()`, which
 * closes the receipts files (after the socket has stopped).
 *
 * @example Answering a webhook in-process
 * ```ts
 * import { createReceiptsApp, type ReceiptsApp } from "./receipts_app.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.journal.jsonl`, '{"type":"header","version":1,"from":"A","textHash":"sha256:0","createdAt":"2026-12-01T12:00:00.000Z"}\n');
 * const receipts: ReceiptsApp = await createReceiptsApp({ journals: [`${dir}/a.journal.jsonl`], signatureSecret: "s3cret" });
 * const response = await receipts.app.request("/webhooks/status", { method: "POST", body: "{}" });
 * console.log(response.status, receipts.stats().refused); // 401 1
 * await receipts.close();
 * ```
 */
export interface ReceiptsApp {
  /** The Hono app: `POST` (any path) takes a webhook, `GET /stats` counts. */
  readonly app: {
    fetch(request: Request): Response | Promise<Response>;
    request(input: RequestInfo | URL, init?: RequestInit): Response | Promise<Response>;
  };
  /** What `GET /stats` answers. */
  stats(): ReceiptsStats;
  /** Finish writing and close every receipts file. */
  close(): Promise<void>;
}

interface Campaign {
  journal: JournalReader;
  file: ReceiptsFile;
}

/**
 * Open every campaign's journal (read-only) and receipts file (locked), and make the app.
 *
 * @throws {TypeError} for a missing secret or no journals; `Deno.errors.NotFound` for a
 * journal that does not exist; a `ReceiptsFileError` when a receipts file is in use.
 */
export async function createReceiptsApp(options: ReceiptsAppOptions): Promise<ReceiptsApp> {
  const {
    journals,
    signatureSecret,
    clock = realClock,
    maxAgeMs = 300_000,
    maxBodyBytes = 65_536,
    onProblem = () => {},
  } = options;
  if (typeof signatureSecret !== "string" || signatureSecret === "") {
    throw new TypeError(
      "Cannot create the receipts server: 'signatureSecret' must be the account's signature secret",
    );
  }
  if (journals.length === 0) {
    throw new TypeError("Cannot create the receipts server: 'journals' must name a journal");
  }
  const campaigns: Campaign[] = [];
  let unmatched: ReceiptsFile | undefined;
  try {
    for (const path of journals) {
      const journal = await JournalReader.open(path);
      campaigns.push({ journal, file: await ReceiptsFile.open(receiptsPathFor(path), { clock }) });
    }
    if (campaigns.length > 1) {
      unmatched = await ReceiptsFile.open(unmatchedPathFor(journals[0]!), { clock });
    }
  } catch (error: unknown) {
    for (const campaign of campaigns) await campaign.file.close();
    throw error;
  }

  const seenTokens = new SeenTokens({ maxAgeMs, clock });
  for (const file of [...campaigns.map((campaign) => campaign.file), unmatched]) {
    seenTokens.remember(file?.tokens ?? []);
  }

  const stats: ReceiptsStats = {
    recorded: 0,
    duplicates: 0,
    unmatched: 0,
    refused: 0,
    invalid: 0,
    failed: 0,
  };

  async function route(receipt: StatusReceipt): Promise<Campaign | undefined> {
    const find = () => campaigns.find((c) => c.journal.numberOf(receipt) !== undefined);
    if (campaigns.length === 1) return campaigns[0];
    let found = find();
    if (found === undefined) {
      for (const campaign of campaigns) await campaign.journal.refresh();
      found = find();
    }
    return found;
  }

  const json = (status: number, body: Record<string, unknown>) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  const refuse = (reason: string) => {
    stats.refused++;
    onProblem(`refused a webhook (401): ${reason}`);
    return json(401, { error: "unauthorized", detail: reason });
  };
  const invalid = (status: number, reason: string) => {
    stats.invalid++;
    onProblem(`refused a signed webhook (${status}): ${reason}`);
    return json(status, { error: "invalid", detail: reason });
  };

  const app = new Hono();
  app.get("/stats", (c) => c.json(stats));
  app.post("*", async (c) => {
    const bytes = await readBoundedBody(c.req.raw, maxBodyBytes);
    if (bytes === undefined) return invalid(413, `the body is larger than ${maxBodyBytes} bytes`);
    const verdict = await verifyWebhookSignature(
      c.req.header("authorization") ?? null,
      bytes,
      signatureSecret,
      { clock, maxAgeMs },
    );
    if (!verdict.ok) return refuse(verdict.reason);
    if (!seenTokens.claim(verdict.jti, verdict.issuedAtMs)) {
      return refuse("the token was used before: a replay");
    }
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      return invalid(400, "the body is not JSON");
    }
    const parsed = parseStatusReceipt(body);
    if (!parsed.ok) return invalid(422, parsed.reason);
    const campaign = await route(parsed.receipt);
    const file = campaign?.file ?? unmatched!;
    try {
      const outcome = await file.record({
        key: receiptKey(parsed.receipt),
        jti: verdict.jti,
        issuedAtMs: verdict.issuedAtMs,
        body,
      });
      if (outcome === "duplicate") stats.duplicates++;
      else {
        stats.recorded++;
        if (campaign === undefined) stats.unmatched++;
      }
      return json(200, { status: outcome });
    } catch (error: unknown) {
      // Not on disk: let the sender retry, and let the token be used for that retry.
      seenTokens.release(verdict.jti);
      stats.failed++;
      const why = error instanceof Error ? error.message : String(error);
      onProblem(`could not record a receipt (503, Vonage will retry): ${why}`);
      return json(503, { error: "not-recorded", detail: "the receipt could not be stored" });
    }
  });
  app.notFound((c) =>
    json(404, { error: "not-found", detail: `no ${c.req.method} ${c.req.path}` })
  );

  return {
    app,
    stats: () => ({ ...stats }),
    async close() {
      for (const campaign of campaigns) await campaign.file.close();
      await unmatched?.close();
    },
  };
}
