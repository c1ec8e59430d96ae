/**
 * `main.ts send`'s setup: the private key, the journal and Redis, each opened
 * with a message that names what is wrong and the fix, before anything is sent.
 *
 * @module
 */

import { hashMessageText, Journal, JournalError } from "../send/journal.ts";
import { importVonagePrivateKey, VonageCredentialsError } from "../vonage/jwt.ts";
import { connectRedis, type RedisConnection } from "../redis/connect.ts";
import {
  campaignId,
  CampaignStateLostError,
  defaultWorkerName,
  type RecipientDigest,
  RedisUnreachableError,
  SharedSend,
} from "../redis/shared_send.ts";
import { describePersistence } from "../redis/campaign_state.ts";
import { ErrorReply } from "../deps/redis_client.ts";
import type { Recipient } from "../send/recipients.ts";
import type { RedisFlags } from "./send_flags.ts";
import type { SendCommandIo } from "./send_io.ts";
import { UsageError } from "./usage_error.ts";

/** The Vonage private key from the environment, imported. */
export async function loadPrivateKey(env: SendCommandIo["env"]): Promise<CryptoKey> {
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

/** For a dry run: would the journal's directory take the file? (Nothing is written.) */
export async function checkJournalPlace(path: string): Promise<void> {
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
export async function finishJournal(
  journal: Journal,
  how: "flush" | "close" = "close",
): Promise<void> {
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

/** Open (or resume) the journal; its faults become usage errors. */
export async function openJournal(
  path: string,
  from: string,
  text: string | undefined,
): Promise<Journal> {
  try {
    return await Journal.open(path, { from, textHash: await hashMessageText(text ?? "") });
  } catch (error) {
    if (error instanceof JournalError) throw new UsageError(error.message, { cause: error });
    if (error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`cannot write the journal ${path}: run with --allow-write`);
    }
    throw error;
  }
}

/** Connect once and close: the URL is right and the server answers. */
export async function checkRedis(url: string): Promise<void> {
  let connection: RedisConnection;
  try {
    connection = await connectRedis(url);
  } catch (error) {
    throw unreachable(error);
  }
  await connection.close();
}

function unreachable(error: unknown): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  // connectRedis says "Cannot connect to Redis at URL: why"; it goes mid-sentence here.
  const why = message.charAt(0).toLowerCase() + message.slice(1);
  return new UsageError(`--redis: ${why.split("\n")[0]}; nothing sent`, { cause: error });
}

/** Join the campaign's shared queue and budget. */
export async function openShared(
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
      // A journal that existed before this run took part in the campaign (or in a run of
      // it without Redis): state in Redis that is gone must not be started afresh.
      tookPart: journal.replay.resumed,
      recoverHint: RECOVER_HINT,
      reclaimIdleMs: redis.reclaimIdleMs,
      outageMs: redis.outageMs,
      // Claim about a quarter second of the shared rate at a time: few round trips at
      // high rates, and little hoarding (every worker keeps --concurrency in hand anyway).
      batchSize: Math.max(1, Math.min(16, run.concurrency, Math.ceil(run.ratePerSecond / 4))),
    });
  } catch (error) {
    if (error instanceof RedisUnreachableError) throw unreachable(error);
    throw error;
  }
}

/** What a worker says when the campaign's state in Redis is lost. */
export const RECOVER_HINT =
  "To resume without sending twice: let every worker of this campaign stop, run the same " +
  "command with --redis-recover on each (it adds what its journal decided to Redis and " +
  "sends nothing), then run the usual command on each again";

/**
 * Join the campaign's state (refusing lost state: exit 2), warn when the server's
 * persistence cannot ride through a restart, and load the queue.
 */
export async function joinShared(
  shared: SharedSend,
  recover: boolean,
  recipients: AsyncIterable<Recipient>,
  count: number,
  ratePerSecond: number,
  io: SendCommandIo,
): Promise<void> {
  let persistence;
  try {
    ({ persistence } = await shared.join(recover));
  } catch (error) {
    if (error instanceof CampaignStateLostError) {
      throw new UsageError(`--redis: ${error.message}. Nothing sent`, { cause: error });
    }
    throw refused(shared, error);
  }
  if (persistence !== "always") {
    io.stderr(
      `redis: warning: ${shared.redisDisplayUrl} keeps its data with ` +
        `${describePersistence(persistence)}: if it restarts, the campaign's state may be ` +
        "lost, and every worker then stops (exit 2) until it is recovered with " +
        "--redis-recover. Workers ride through a restart of a server with appendonly yes " +
        "and appendfsync always",
    );
  }
  const added = await shared.load(recipients).catch((error: unknown) => {
    throw refused(shared, error);
  });
  io.stderr(
    `redis: worker ${shared.worker} joins ${shared.queueKey} (${count} recipients, ${added} ` +
      `added by this worker), sharing ${shared.budgetKey} at ${ratePerSecond}/s`,
  );
}

/** A command Redis answered with an error: a setup fault (a replica, an ACL), said so. */
function refused(shared: SharedSend, error: unknown): unknown {
  if (!(error instanceof ErrorReply)) return error;
  return new UsageError(
    `--redis: ${shared.redisDisplayUrl} refused a command: ${error.message} (a read-only ` +
      "replica, or an ACL that forbids it?); point --redis at the primary, or allow the " +
      "commands. Nothing sent",
    { cause: error },
  );
}

/** `--redis-recover`: seed the campaign's decided set from this worker's journal; send nothing. */
export async function recoverShared(
  shared: SharedSend,
  journalPath: string | undefined,
  io: SendCommandIo,
): Promise<number> {
  const seeded = await shared.recover();
  io.stderr(
    `redis: recovery: ${seeded} decisions from ${journalPath} added to ` +
      `${shared.campaignKeys.decided}; nothing sent. Once every worker of this campaign has ` +
      "run --redis-recover, run the usual command on each: no number that any journal " +
      "decided is sent again",
  );
  return 0;
}
