/**
 * `main.ts send --redis URL`: one worker among several (on several machines) that share
 * one rate budget and one work queue through Redis.
 *
 * Design notes: `docs/design.md` (shared_send.ts).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Clock, realClock } from "../core/clock.ts";
import type { JournalState } from "../send/journal.ts";
import type { Limiter, LimiterOutcome, TakeOptions } from "../core/limiter.ts";
import type { Recipient } from "../send/recipients.ts";
import { connectRedis, type RedisCommander, type RedisConnection } from "./connect.ts";
import {
  type CampaignKeys,
  campaignKeys,
  CampaignStateLostError,
  checkCampaign,
  decisionsFor,
  joinCampaign,
  type JoinedCampaign,
  seedDecisions,
} from "./campaign_state.ts";
import { rideThrough } from "./ride_through.ts";
import { RedisLimiter } from "./redis_limiter.ts";
import { RedisWorkQueue, type WorkEntry, type WorkQueueCounts } from "./work_queue.ts";
import type { SendRecipient, SendSettlement } from "../send/send_job.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { Clock, JournalState, Limiter, Recipient, SendRecipient, SendSettlement };
export type { JoinedCampaign, LimiterOutcome, TakeOptions, WorkQueueCounts };
export { CampaignStateLostError };

/**
 * A digest of the recipients a campaign sends to, in order, computed while they stream
 * past (nothing is held): SHA-256 over one JSON line per recipient (number and own text).
 *
 * @example Fingerprinting a list
 * ```ts
 * import { RecipientDigest } from "./shared_send.ts";
 *
 * const digest = new RecipientDigest();
 * digest.add({ line: 1, to: "14155550100" });
 * console.log(digest.count, digest.hex().length); // 1 64
 * ```
 */
export class RecipientDigest {
  #hash = createHash("sha256");
  #hex: string | undefined;
  #count = 0;

  /** Recipients added so far. */
  get count(): number {
    return this.#count;
  }

  /** Add the next recipient (its line number does not count: only what is sent does). */
  add(recipient: Recipient): void {
    if (this.#hex !== undefined) throw new Error("RecipientDigest: add() after hex()");
    this.#count++;
    this.#hash.update(JSON.stringify([recipient.to, recipient.text ?? null]) + "\n");
  }

  /** The digest in hex; no recipient may be added after. */
  hex(): string {
    this.#hex ??= this.#hash.digest("hex");
    return this.#hex;
  }
}

/** What identifies a campaign, from {@linkcode campaignId}. */
export interface CampaignParts {
  /** The Vonage application id. */
  applicationId: string;
  /** The sender (`--from`). */
  from: string;
  /** The hash of `--text` (`hashMessageText`). */
  textHash: string;
  /** The valid recipients, in order. */
  recipients: RecipientDigest;
}

/**
 * A short id (24 hex digits) for a campaign: the same for every worker started with the
 * same command on the same file, different as soon as any part differs.
 *
 * @example The queue key of a campaign
 * ```ts
 * import { campaignId, RecipientDigest } from "./shared_send.ts";
 *
 * const recipients = new RecipientDigest();
 * recipients.add({ line: 1, to: "14155550100" });
 * const id = campaignId({ applicationId: "app", from: "Acme", textHash: "sha256:…", recipients });
 * console.log(`politely:{${id}}:queue`);
 * ```
 */
export function campaignId(parts: CampaignParts): string {
  const { applicationId, from, textHash, recipients } = parts;
  const line = JSON.stringify([
    applicationId,
    from,
    textHash,
    recipients.count,
    recipients.hex(),
  ]);
  return createHash("sha256").update(line).digest("hex").slice(0, 24);
}

/**
 * The key of the rate budget every worker sending through one Vonage application shares.
 * The braces are a Redis Cluster hash tag: the budget's keys share one slot.
 *
 * @example The budget of an application
 * ```ts
 * import { budgetKey } from "./shared_send.ts";
 *
 * console.log(budgetKey("app")); // "politely:{app}:budget"
 * ```
 */
export function budgetKey(applicationId: string): string {
  return `politely:{${applicationId}}:budget`;
}

/**
 * The key of a campaign's work queue (its companions add `:outcomes`, `:started`, …,
 * all in the same hash tag).
 *
 * @example The queue of a campaign
 * ```ts
 * import { queueKey } from "./shared_send.ts";
 *
 * console.log(queueKey("0123456789abcdef01234567")); // "politely:{0123456789abcdef01234567}:queue"
 * ```
 */
export function queueKey(campaignId: string): string {
  return `politely:{${campaignId}}:queue`;
}

/**
 * This worker's name in the queue: `HOST:JOURNAL` (absolute path), stable across
 * restarts so that a restarted worker gets its own pending entries back, and unique
 * among live workers because the journal is locked while in use. Without a journal,
 * `HOST:pid-PID` (a restart cannot vouch for what it sent, so it starts afresh).
 *
 * The host comes from `Deno.hostname()` (needs `--allow-sys=hostname`), else
 * `/etc/hostname`, else `$HOSTNAME`; `undefined` if none is available.
 *
 * @example Naming a worker
 * ```ts ignore
 * import { defaultWorkerName } from "./shared_send.ts";
 *
 * console.log(await defaultWorkerName("/data/people.csv.journal.jsonl"));
 * // "mailer-3:/data/people.csv.journal.jsonl"
 * ```
 */
export async function defaultWorkerName(
  journalPath: string | undefined,
): Promise<string | undefined> {
  const host = await hostName();
  if (host === undefined) return undefined;
  if (journalPath === undefined) return `${host}:pid-${Deno.pid}`;
  let absolute = journalPath;
  try {
    absolute = await Deno.realPath(journalPath);
  } catch {
    // Not resolvable (no read permission on a parent): the path as given is still stable.
  }
  return `${host}:${absolute}`;
}

async function hostName(): Promise<string | undefined> {
  try {
    const name = Deno.hostname();
    if (name !== "") return name;
  } catch {
    // Not permitted (--allow-sys) or not supported: try the other sources.
  }
  try {
    const name = (await Deno.readTextFile("/etc/hostname")).trim();
    if (name !== "") return name;
  } catch {
    // Not Linux, or not readable.
  }
  try {
    const name = Deno.env.get("HOSTNAME")?.trim();
    if (name) return name;
  } catch {
    // No --allow-env.
  }
  return undefined;
}

/** A recipient taken from the queue: it remembers its entry. */
export interface QueuedRecipient extends SendRecipient {
  /** The stream entry it came from. */
  readonly entryId: string;
}

/** What the queue holds per recipient. */
interface QueueItem {
  to: string;
  line: number;
  text?: string;
  /** A `client_ref` column's value; absent when the worker makes one. */
  clientRef?: string;
}

/** What a worker records in the queue when it completes an entry. */
interface QueueOutcome {
  state: "accepted" | "failed" | "uncertain";
  messageUuid?: string;
  reason?: string;
  /** The worker that decided it. */
  worker: string;
  /** `true` when decided by an earlier run (its journal), not this one. */
  earlier?: boolean;
}

/** The queue as a whole, from {@linkcode SharedSend.totals}. */
export interface QueueTotals extends WorkQueueCounts {
  /** The queue's key. */
  key: string;
  /** Completed entries by outcome (`accepted`, `failed`, `uncertain`). */
  outcomes: Record<string, number>;
}

/** Options for {@linkcode SharedSend.open}. */
export interface SharedSendOptions {
  /** The Redis server, `redis://…` or `rediss://…`. */
  redisUrl: string;
  /** The Vonage application id: the budget is per application. */
  applicationId: string;
  /** The campaign, from {@linkcode campaignId}: the queue is per campaign. */
  campaignId: string;
  /** The shared rate; every worker must use the same. */
  ratePerSecond: number;
  /** The shared burst; every worker must use the same. */
  burst: number;
  /** This worker's name, from {@linkcode defaultWorkerName} or `--redis-worker`. */
  worker: string;
  /** What this worker's journal knew when opened. */
  previous: ReadonlyMap<string, JournalState>;
  /**
   * Whether this worker's journal already has records of this campaign: then
   * state in Redis that is gone or was rebuilt without it is refused.
   *
   * @default {false}
   */
  tookPart?: boolean;
  /**
   * What to tell the user to do when the campaign's state is lost.
   *
   * @default {"see 'Redis persistence and recovery' in the README"}
   */
  recoverHint?: string;
  /**
   * How long an outage (dropped connection, a server still loading) may last before
   * a command fails; until then commands are sent again, with jitter.
   *
   * @default {30_000}
   */
  outageMs?: number;
  /**
   * How long an entry must be idle before another worker takes it over.
   *
   * @default {60_000}
   */
  reclaimIdleMs?: number;
  /**
   * Entries claimed at a time.
   *
   * @default {16}
   */
  batchSize?: number;
  /**
   * Where waits are measured.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/**
 * Thrown by {@linkcode SharedSend.open} when the server cannot be reached.
 *
 * @example Telling a wrong URL from other failures
 * ```ts ignore
 * import { RedisUnreachableError, SharedSend } from "./shared_send.ts";
 *
 * try {
 *   await SharedSend.open(options);
 * } catch (error) {
 *   if (error instanceof RedisUnreachableError) console.error(error.message); // names the URL
 *   else throw error;
 * }
 * ```
 */
export class RedisUnreachableError extends Error {
  /** Wrap the connection error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisUnreachableError";
  }
}

/**
 * One worker's share of a campaign run through Redis: the shared limiter, the queue as
 * a recipient source, and the hooks that report back to it. Open, `load`, pass
 * `limiter`, `recipients`, `beforeSend` and `onSettled` to `runSendJob`, then `close`.
 *
 * @example One worker
 * ```ts ignore
 * import { SharedSend } from "./shared_send.ts";
 * import { runSendJob } from "../send/send_job.ts";
 *
 * const shared = await SharedSend.open({ redisUrl, applicationId, campaignId: id,
 *   ratePerSecond: 20, burst: 1, worker, previous: journal.previous });
 * try {
 *   await shared.load(recipients);
 *   const result = await runSendJob(shared.recipients, { ...options, limiter: shared.limiter,
 *     beforeSend: shared.beforeSend, onSettled: shared.onSettled });
 *   console.log(await shared.totals());
 * } finally {
 *   await shared.close();
 * }
 * ```
 */
export class SharedSend {
  /** The budget shared by every worker of the application. */
  readonly limiter: Limiter;
  /** This worker's name in the queue. */
  readonly worker: string;
  /** The budget's key. */
  readonly budgetKey: string;
  /** The queue's key. */
  readonly queueKey: string;
  /** The server, as given. */
  readonly redisUrl: string;
  /** The server's URL without its password, for messages. */
  readonly redisDisplayUrl: string;
  /** The campaign's marker, worker set and decided set. */
  readonly campaignKeys: CampaignKeys;

  readonly #queue: RedisWorkQueue<QueueItem, QueueOutcome>;
  readonly #redisLimiter: RedisLimiter;
  readonly #connections: RedisConnection[];
  readonly #previous: ReadonlyMap<string, JournalState>;
  readonly #queueRedis: RedisCommander;
  readonly #tookPart: boolean;
  readonly #recoverHint: string;
  readonly #ratePerSecond: number;
  #joined: JoinedCampaign | undefined;
  /** Socket errors on either connection so far, and the count when each recipient was handed out. */
  readonly #drops: { count: number };
  readonly #handedOutAt = new WeakMap<QueuedRecipient, number>();
  #checkedAtDrops = 0;
  #lostState: CampaignStateLostError | undefined;
  #decidedElsewhere = 0;
  readonly #reclaimIdleMs: number;
  readonly #touchEveryMs: number;
  readonly #quietAfterMs: number;
  readonly #batchSize: number;
  readonly #clock: Clock;
  /**
   * Entries this worker holds: claimed and not yet handed to the job (`buffered`: the
   * value says whether it may be handed back as fresh work), or handed and not settled.
   */
  readonly #held = new Map<string, { buffered: boolean; releasable: boolean }>();
  readonly #heartbeat = new AbortController();
  /** Aborted by close(): an outage is not waited out any more. */
  readonly #closing = new AbortController();
  #heartbeatDone: Promise<void> = Promise.resolve();
  #leftByEarlierRuns = 0;
  #lost = 0;
  #closed = false;

  private constructor(
    options: SharedSendOptions,
    limiterConnection: RedisConnection,
    queueConnection: RedisConnection,
    drops: { count: number } = { count: 0 },
  ) {
    this.#drops = drops;
    const outage = {
      outageMs: options.outageMs ?? 30_000,
      clock: options.clock ?? realClock,
      signal: this.#closing.signal,
    };
    const limiterRedis = rideThrough(limiterConnection, outage);
    const queueRedis = rideThrough(queueConnection, outage);
    const {
      applicationId,
      campaignId,
      ratePerSecond,
      burst,
      worker,
      previous,
      reclaimIdleMs = 60_000,
      batchSize = 16,
      clock = realClock,
    } = options;
    this.worker = worker;
    this.redisUrl = options.redisUrl;
    this.redisDisplayUrl = withoutPassword(options.redisUrl);
    this.budgetKey = budgetKey(applicationId);
    this.queueKey = queueKey(campaignId);
    this.#connections = [limiterConnection, queueConnection];
    this.#redisLimiter = new RedisLimiter({
      redis: limiterRedis,
      key: this.budgetKey,
      ratePerSecond,
      burst,
      clock,
    });
    this.limiter = this.#redisLimiter;
    this.#queue = new RedisWorkQueue({ redis: queueRedis, key: this.queueKey, reclaimIdleMs });
    this.#queueRedis = queueRedis;
    this.campaignKeys = campaignKeys(campaignId);
    this.#tookPart = options.tookPart ?? false;
    this.#recoverHint = options.recoverHint ??
      "see 'Redis persistence and recovery' in the README";
    this.#ratePerSecond = ratePerSecond;
    this.#previous = previous;
    this.#reclaimIdleMs = reclaimIdleMs;
    // A live worker touches its entries well within the idle time (and at least every
    // 5 s, so that a worker configured with a shorter idle time does not take them).
    this.#touchEveryMs = Math.max(10, Math.min(reclaimIdleMs / 3, 5_000));
    // Idle longer than two missed touches: the holder looks gone, worth waiting for.
    this.#quietAfterMs = Math.min(reclaimIdleMs, 2 * this.#touchEveryMs + 1_000);
    this.#batchSize = batchSize;
    this.#clock = clock;
  }

  /**
   * Connect (two connections: the limiter's and the queue's) and describe the worker.
   *
   * @throws {RedisUnreachableError} when the server cannot be reached.
   */
  static async open(options: SharedSendOptions): Promise<SharedSend> {
    const drops = { count: 0 };
    const connect = async (): Promise<RedisConnection> => {
      try {
        // Reconnect for as long as an outage is ridden through (the 2 s cap × 1000).
        return await connectRedis(options.redisUrl, {
          maxReconnects: 1000,
          // rideThrough retries, within outageMs; the client's own queue would wait forever.
          queueWhileDisconnected: false,
          onError: () => drops.count++,
        });
      } catch (error) {
        throw new RedisUnreachableError(error instanceof Error ? error.message : String(error), {
          cause: error,
        });
      }
    };
    const limiterConnection = await connect();
    let queueConnection: RedisConnection;
    try {
      queueConnection = await connect();
    } catch (error) {
      await limiterConnection.close();
      throw error;
    }
    return new SharedSend(options, limiterConnection, queueConnection, drops);
  }

  /** Failed or uncertain numbers this worker completed from what its journal had decided. */
  get leftByEarlierRuns(): number {
    return this.#leftByEarlierRuns;
  }

  /** Entries this worker completed from decisions a recovery seeded (other workers' journals). */
  get decidedElsewhere(): number {
    return this.#decidedElsewhere;
  }

  /**
   * Join the campaign's state in Redis, or create it: call before
   * {@linkcode SharedSend.load}. With `recover`, state that is gone is made
   * again and accepted as it is (see {@linkcode SharedSend.recover}).
   *
   * @throws {CampaignStateLostError} when this worker's journal took part in the
   * campaign and its state is gone, was rebuilt without it, or may have lost writes.
   */
  async join(recover = false): Promise<JoinedCampaign> {
    this.#joined = await joinCampaign(this.#queueRedis, {
      keys: this.campaignKeys,
      worker: this.worker,
      tookPart: this.#tookPart,
      recover,
      recoverHint: this.#recoverHint,
    });
    return this.#joined;
  }

  /**
   * Seed the campaign's decided set with what this worker's journal decided, so
   * that a rebuilt queue completes those numbers without sending. Every worker
   * of the campaign does this (after {@linkcode SharedSend.join} with `recover`)
   * before any of them sends again. Resolves with how many decisions were seeded.
   */
  recover(): Promise<number> {
    return seedDecisions(this.#queueRedis, this.campaignKeys, this.#previous, this.worker);
  }

  /**
   * After the run failed with `error`: the lost-state error that explains it, if the
   * campaign's state is gone or rebuilt (else `undefined`: some other failure).
   */
  async diagnose(error: unknown): Promise<CampaignStateLostError | undefined> {
    if (error instanceof CampaignStateLostError) return error;
    if (this.#lostState !== undefined) return this.#lostState;
    if (this.#joined === undefined) return undefined;
    try {
      return await checkCampaign(
        this.#queueRedis,
        this.campaignKeys,
        this.#joined,
        this.#recoverHint,
      );
    } catch {
      return undefined; // unreachable: the caller says so
    }
  }

  /** Entries another worker completed first (it took them over from this one). */
  get lost(): number {
    return this.#lost;
  }

  /**
   * Put the campaign's recipients in the queue; every worker does, each item goes in
   * once. Resolves with how many this call added.
   */
  load(recipients: AsyncIterable<Recipient>): Promise<number> {
    return this.#queue.load(toItems(recipients));
  }

  /**
   * The recipient source for `runSendJob`: claims entries in small batches until the
   * queue has nothing left for this worker, or the job stops admitting.
   */
  readonly recipients = (admission: AbortSignal): AsyncIterable<QueuedRecipient> => {
    this.#startHeartbeat();
    return this.#claimAll(admission);
  };

  /** Mark the entry started before its request leaves; refuse if it was taken over. */
  readonly beforeSend = async (recipient: QueuedRecipient): Promise<void> => {
    if (this.#drops.count !== this.#checkedAtDrops && this.#joined !== undefined) {
      // The connection dropped since the last check: Redis may have restarted and lost
      // writes (a delivery to this worker, now handed to another). Nothing leaves until
      // the campaign's state is known to be the one joined.
      const drops = this.#drops.count;
      this.#lostState ??= await checkCampaign(
        this.#queueRedis,
        this.campaignKeys,
        this.#joined,
        this.#recoverHint,
      );
      this.#checkedAtDrops = drops;
    }
    if (this.#lostState !== undefined) throw this.#lostState;
    const askedAt = this.#clock.now();
    const marked = await this.#queue.markStarted(this.worker, recipient.entryId);
    // Redis went away (a blip) since this recipient was handed out, or was slow just
    // now: the slot it was granted is stale, and every worker's requests held up by the
    // blip would leave together after it. Take a fresh slot of the shared budget.
    const slow = this.#clock.now() - askedAt > Math.max(250, 2_000 / this.#ratePerSecond);
    if (slow || this.#handedOutAt.get(recipient) !== this.#drops.count) {
      await this.limiter.take();
    }
    if (!marked) {
      throw new Error(
        `queue entry ${recipient.entryId} (${recipient.to}) was taken over by another worker ` +
          "while this one held it: every worker must use the same --redis-reclaim-after, " +
          "long enough for a worker to keep in touch with Redis",
      );
    }
  };

  /** Complete the entry with its outcome, or hand it back if it was never begun. */
  readonly onSettled = async (
    recipient: QueuedRecipient,
    settlement: SendSettlement,
  ): Promise<void> => {
    const id = recipient.entryId;
    let outcome: QueueOutcome | undefined;
    switch (settlement.state) {
      case "accepted":
        outcome = { state: "accepted", messageUuid: settlement.messageUuid, worker: this.worker };
        break;
      case "failed":
      case "uncertain":
        outcome = { state: settlement.state, reason: settlement.reason, worker: this.worker };
        break;
      case "skipped": {
        const earlier = settlement.previous;
        if (earlier.state === "accepted") {
          outcome = { state: "accepted", messageUuid: earlier.messageUuid, worker: this.worker };
        } else if (earlier.state !== "pending") {
          this.#leftByEarlierRuns++;
          outcome = { state: earlier.state, reason: earlier.reason, worker: this.worker };
        }
        if (outcome !== undefined) outcome.earlier = true;
        break;
      }
      case "pending": {
        // Hand back only what nobody may have sent; the rest is reclaimed, in doubt, later.
        const wasInDoubt = recipient.doubt !== undefined ||
          this.#previous.get(recipient.to)?.state === "uncertain";
        if (!wasInDoubt) await this.#queue.release(this.worker, [id]);
        break;
      }
    }
    if (outcome !== undefined) {
      const recorded = await this.#queue.complete(id, outcome, { tally: outcome.state });
      // Not recorded: another worker completed it first, or our own first try did (its
      // answer lost in a blip, the retry found it done).
      if (!recorded && (await this.#queue.outcome(id))?.worker !== this.worker) this.#lost++;
    }
    this.#held.delete(id);
  };

  /** Whether the server answers a new connection now (after an error, to name its cause). */
  async reachable(): Promise<boolean> {
    try {
      const connection = await connectRedis(this.redisUrl, {
        connectTimeoutMs: 2_000,
        maxReconnects: 0,
      });
      await connection.close();
      return true;
    } catch {
      return false;
    }
  }

  /** The queue as a whole: entries, pending, completed, and outcomes. */
  async totals(): Promise<QueueTotals> {
    const [counts, outcomes] = await Promise.all([this.#queue.counts(), this.#queue.tallies()]);
    return { key: this.queueKey, ...counts, outcomes };
  }

  /**
   * Stop touching, hand back entries claimed but never given to the job, and close the
   * connections. Entries given to the job and never settled (the job failed) stay pending:
   * whoever takes them over applies the rules above.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#heartbeat.abort();
    await this.#heartbeatDone;
    // Never begun by this worker; but one another worker had begun keeps its mark.
    const buffered = [...this.#held]
      .filter(([, held]) => held.buffered && held.releasable)
      .map(([id]) => id);
    try {
      await this.#queue.release(this.worker, buffered);
    } catch {
      // Unreachable now: unmarked entries are taken over as fresh work later anyway.
    }
    await this.#redisLimiter.close();
    await this.#queue.close();
    await Promise.all(this.#connections.map((connection) => connection.close()));
  }

  async *#claimAll(admission: AbortSignal): AsyncGenerator<QueuedRecipient> {
    while (!admission.aborted) {
      if (this.#lostState !== undefined) throw this.#lostState;
      const claimed = await this.#queue.claim(this.worker, this.#batchSize);
      const entries = this.#joined?.recovered ? await this.#settleDecided(claimed) : claimed;
      if (claimed.length > 0 && entries.length === 0) continue; // all decided elsewhere
      // An entry already in hand may come back (taken over from ourselves after a
      // missed touch): it is being worked on; never hand it out twice.
      const fresh = entries.filter((entry) => !this.#held.has(entry.id));
      if (fresh.length === 0) {
        const quiet = await this.#queue.findIdle(this.#quietAfterMs);
        if (quiet === undefined) return; // the rest is done, or in live workers' hands
        const waitMs = Math.min(
          Math.max(this.#reclaimIdleMs - quiet.idleMs, 20),
          this.#touchEveryMs,
        );
        try {
          await this.#clock.sleep(waitMs, admission);
        } catch {
          return; // stopped while waiting
        }
        continue;
      }
      for (const entry of fresh) {
        this.#held.set(entry.id, { buffered: true, releasable: entry.startedBy === undefined });
      }
      for (const entry of fresh) {
        // Stopped: what is still buffered goes back to the queue in close().
        if (admission.aborted) return;
        this.#held.set(entry.id, { buffered: false, releasable: false });
        const recipient = this.#toRecipient(entry);
        this.#handedOutAt.set(recipient, this.#drops.count);
        yield recipient;
      }
    }
  }

  /**
   * A recovered campaign: entries whose number another worker's journal decided are
   * completed with that decision, never sent; the rest are returned. What this
   * worker's own journal decided is left to the job (it skips those).
   */
  async #settleDecided(entries: WorkEntry<QueueItem>[]): Promise<WorkEntry<QueueItem>[]> {
    // Numbers this worker's journal left pending may have been decided by another worker.
    const others = entries.filter((entry) => {
      const state = this.#previous.get(entry.item.to)?.state;
      return state === undefined || state === "pending";
    });
    const decided = await decisionsFor(
      this.#queueRedis,
      this.campaignKeys,
      others.map((entry) => entry.item.to),
    );
    if (decided.size === 0) return entries;
    const rest: WorkEntry<QueueItem>[] = [];
    for (const entry of entries) {
      const decision = decided.get(entry.item.to);
      if (decision === undefined) {
        rest.push(entry);
        continue;
      }
      const outcome: QueueOutcome = { ...decision, earlier: true };
      await this.#queue.complete(entry.id, outcome, { tally: decision.state });
      this.#decidedElsewhere++;
      if (decision.state !== "accepted") this.#leftByEarlierRuns++;
    }
    return rest;
  }

  #toRecipient(entry: WorkEntry<QueueItem>): QueuedRecipient {
    const { to, line, text, clientRef } = entry.item;
    const recipient: QueuedRecipient = {
      entryId: entry.id,
      to,
      line,
      ...(text === undefined ? {} : { text }),
      ...(clientRef === undefined ? {} : { clientRef }),
    };
    const by = entry.startedBy;
    if (entry.reclaimed && by !== undefined) {
      if (by !== this.worker) {
        recipient.doubt = `worker ${by} stopped while sending it: it may have been accepted`;
      } else if (!this.#previous.has(to)) {
        recipient.doubt = "this worker began sending it, but its journal has no record of it";
      }
      // Else this worker's own journal knows what happened, and the job follows it.
    }
    return recipient;
  }

  #startHeartbeat(): void {
    if (this.#closed || this.#heartbeat.signal.aborted) return;
    const signal = this.#heartbeat.signal;
    this.#heartbeatDone = (async () => {
      for (;;) {
        try {
          await this.#clock.sleep(this.#touchEveryMs, signal);
        } catch {
          return;
        }
        try {
          await this.#queue.touch(this.worker, this.#held.keys());
          if (this.#joined !== undefined && this.#lostState === undefined) {
            this.#lostState = await checkCampaign(
              this.#queueRedis,
              this.campaignKeys,
              this.#joined,
              this.#recoverHint,
            );
          }
        } catch (error) {
          // Gone with the data: NOGROUP. Else Redis is away: the job's next call says so.
          if (error instanceof Error && error.message.startsWith("NOGROUP")) {
            this.#lostState ??= await checkCampaign(
              this.#queueRedis,
              this.campaignKeys,
              this.#joined!,
              this.#recoverHint,
            ).catch(() => undefined);
          }
        }
      }
    })();
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}

async function* toItems(recipients: AsyncIterable<Recipient>): AsyncGenerator<QueueItem> {
  for await (const { to, line, text, clientRef } of recipients) {
    const item: QueueItem = { to, line };
    if (text !== undefined) item.text = text;
    if (clientRef !== undefined) item.clientRef = clientRef;
    yield item;
  }
}

/**
 * One line about the queue, for the summary: `queue KEY: 60 entries, 58 accepted, …`.
 *
 * @example Describing a finished queue
 * ```ts
 * import { describeQueueTotals } from "./shared_send.ts";
 *
 * console.log(describeQueueTotals({
 *   key: "politely:{abc}:queue", enqueued: 60, pending: 0, completed: 60,
 *   outcomes: { accepted: 58, uncertain: 2 },
 * }));
 * ```
 */
export function describeQueueTotals(totals: QueueTotals): string {
  const { key, enqueued, pending, completed, outcomes } = totals;
  const states = ["accepted", "failed", "uncertain"]
    .filter((state) => (outcomes[state] ?? 0) > 0)
    .map((state) => `${outcomes[state]} ${state}`);
  const unclaimed = enqueued - completed - pending;
  return `queue ${key}: ${enqueued} entries, ${completed} completed` +
    (states.length > 0 ? ` (${states.join(", ")})` : "") +
    (pending > 0 ? `, ${pending} pending (claimed, or handed back by a stopped worker)` : "") +
    (unclaimed > 0 ? `, ${unclaimed} not claimed yet` : "");
}
