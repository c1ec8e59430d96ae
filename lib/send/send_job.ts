/**
 * The bulk send: one SMS per recipient, paced by a limiter, retried by policy,
 * every outcome journaled.
 *
 * Design notes: `docs/design.md` (send_job.ts).
 *
 * @module
 */

import { type BackoffOptions, createBackoff } from "../core/backoff.ts";
import { type Clock, realClock } from "../core/clock.ts";
import type { JournalState } from "./journal.ts";
import type { Limiter } from "../core/limiter.ts";
import type { Recipient } from "./recipients.ts";
import { DeparturePacer } from "./departure_pacer.ts";
import type { SendOutcome, SmsMessage } from "../vonage/outcomes.ts";
import { RecipientSend, type SendJobContext } from "./recipient_send.ts";
import { RunControl, type StopCause } from "./run_control.ts";

export type { StopCause } from "./run_control.ts";
import { Settler } from "./settle.ts";
import { runWorkerPool } from "./worker_pool.ts";

export { emptySendCounts } from "./settle.ts";

/** A recipient, as the job takes it: a {@linkcode Recipient}, perhaps in doubt. */
export interface SendRecipient extends Recipient {
  /**
   * Why a request for this number may already have been accepted, outside this
   * job's journal (e.g. a worker that died while holding it). Unless the
   * journal has decided the number already, it is recorded uncertain with this
   * reason and not sent, or sent with `resendUncertain`.
   */
  doubt?: string;
}

/**
 * Where the job reads recipients: an iterable (read to the end even after a
 * stop, to count what is left as pending), or a function that is given the
 * job's admission signal and returns one. That signal aborts when the run
 * stops admitting sends (interrupt, 401, 402, an error); a source that must not
 * be read further then — a shared work queue — ends there.
 */
export type RecipientSource<R extends SendRecipient = SendRecipient> =
  | AsyncIterable<R>
  | Iterable<R>
  | ((admission: AbortSignal) => AsyncIterable<R> | Iterable<R>);

/** How the job left one recipient, as {@linkcode SendJobOptions.onSettled} hears it. */
export type SendSettlement =
  | {
    /** Accepted in this run. */
    state: "accepted";
    /** The server's id for the message. */
    messageUuid: string;
  }
  | {
    /** Failed for good in this run. */
    state: "failed";
    /** Why, for people. */
    reason: string;
  }
  | {
    /** May or may not have been accepted (this run's answer, or the recipient's `doubt`). */
    state: "uncertain";
    /** Why, for people. */
    reason: string;
  }
  | {
    /** Not sent: an earlier run decided it. */
    state: "skipped";
    /** What the earlier run decided (accepted, failed, or uncertain). */
    previous: JournalState;
  }
  | {
    /**
     * Not decided because the run stopped. No request of this run may have
     * been accepted: none was made, or each was definitely refused.
     */
    state: "pending";
  };

/** What the job needs from a journal (see `lib/journal.ts`). */
export interface SendJournal {
  /**
   * Durably record that a request for `to` is about to leave; `clientRef` is given when the
   * recipient brought its own (a `client_ref` column), so receipts can be matched by it.
   */
  sending(to: string, attempt?: number, clientRef?: string): Promise<void>;
  /** The last request for `to` was definitely not accepted: it is pending again. */
  released(to: string, reason: string): Promise<void>;
  /** Record that `to` was accepted. */
  accepted(to: string, messageUuid: string): Promise<void>;
  /** Record that `to` failed for good. */
  failed(to: string, reason: string): Promise<void>;
  /** Record that `to` may or may not have been accepted. */
  uncertain(to: string, reason: string): Promise<void>;
}

/**
 * The one call the job makes to the API. `beforeRetry` is for a client that
 * retries once by itself (the Vonage client, with a fresh token after a 401):
 * it takes a token for that request too, so it is paced like any other.
 */
export type SendSms = (
  message: SmsMessage,
  options: { signal: AbortSignal; beforeRetry?: () => Promise<void> },
) => Promise<SendOutcome>;

/** Counters the job keeps while it runs. */
export interface SendCounts {
  /** Recipients handed to the job (after validation and de-duplication). */
  total: number;
  /** Accepted by the server in this run. */
  accepted: number;
  /** Failed for good in this run. */
  failed: number;
  /** Ended in doubt in this run. */
  uncertain: number;
  /** Skipped because an earlier run already decided them. */
  skipped: number;
  /** HTTP requests made (first tries and retries). */
  attempts: number;
  /** 429 answers received. */
  throttled: number;
}

/** What {@linkcode runSendJob} returns. */
export interface SendJobResult extends SendCounts {
  /** Failure reasons and how many messages each one ended. */
  failedByReason: Record<string, number>;
  /** Recipients never decided because the run stopped early. */
  pending: number;
  /** Why the run stopped before the end, if it did. */
  stoppedBy?: StopCause;
  /** The answer that stopped the run, for people. */
  stopReason?: string;
  /** Milliseconds from the first request to the last answer (of any kind). */
  elapsedMs: number;
  /**
   * Requests per second beyond the first burst: (`attempts` − `burst`) over
   * `elapsedMs`. A token bucket lets `burst` requests go at once and then one per
   * interval, so with paced departures this never exceeds `ratePerSecond`, however
   * short the run. `undefined` when no more requests were made than the burst:
   * too few to measure a rate.
   */
  requestRatePerSecond: number | undefined;
  /**
   * Accepted messages per second, measured the same way: (`accepted` − `burst`)
   * over `elapsedMs`; `undefined` when no more were accepted than the burst.
   */
  achievedRatePerSecond: number | undefined;
}

/** Options for {@linkcode runSendJob}; `R` is the recipients' type. */
export interface SendJobOptions<R extends SendRecipient = SendRecipient> {
  /** Sends one SMS; usually `client.sendSms` of a Vonage client. Required. */
  sendSms: SendSms;
  /** Paces every request, first tries and retries alike. Required. */
  limiter: Limiter;
  /** The sender (`from`) for every message. Required. */
  from: string;
  /** The text for recipients without their own. Required. */
  text: string;
  /**
   * The campaign tag of each message's `client_ref` (`pl1-TAG-TO`, see
   * `lib/send/client_ref.ts`); a recipient's own `clientRef` wins. Without it, only
   * recipients with their own carry one.
   *
   * @default {undefined}
   */
  clientRefTag?: string;
  /** Where outcomes go. Required (pass a journal that writes nothing to opt out). */
  journal: SendJournal;
  /**
   * Decisions from an earlier run (a journal's `previous`): accepted and failed
   * numbers are skipped; uncertain ones too unless `resendUncertain`; pending
   * ones are sent.
   *
   * @default {new Map()}
   */
  previous?: ReadonlyMap<string, JournalState>;
  /**
   * The most requests in flight at once.
   *
   * @default {16}
   */
  concurrency?: number;
  /**
   * Per-message time budget in milliseconds, from the moment its first request may
   * leave (the wait in the limiter's queue before it does not count; waits for
   * retries do). The job gives up rather than sleep past it.
   *
   * @default {300000}
   */
  maxTimeMs?: number;
  /**
   * Per-message attempts in total, counting the first.
   *
   * @default {Infinity}
   */
  maxTries?: number;
  /**
   * The retry schedule; `baseMs` defaults to one token interval of the
   * limiter's rate (at least 10 ms, at most 1 s).
   *
   * @default {{ strategy: "exponential", jitter: "full" }}
   */
  backoff?: BackoffOptions;
  /**
   * Space the requests' actual departures at the limiter's own rate and burst
   * too, read from it before each request so that they follow a rate it
   * learns (the limiter is the one source of the rate). The limiter grants
   * tokens at the right pace, but the durable `sending` write (an fsync) and
   * `beforeSend` come between the grant and the request: a slow disk or
   * server would hold requests back and then let them leave together. A local
   * token bucket right before each request re-spaces them; in steady state it
   * never waits. Turn it off only to send unpaced on purpose.
   *
   * @default {true}
   */
  paceDepartures?: boolean;
  /**
   * Retry messages whose outcome is uncertain (they may be sent twice). Such a
   * message ends accepted if a later try is, and uncertain otherwise (never
   * failed or pending: the first try may have gone through).
   *
   * @default {false}
   */
  retryUncertain?: boolean;
  /**
   * Send again to numbers an earlier run left uncertain (they may be sent twice).
   *
   * @default {false}
   */
  resendUncertain?: boolean;
  /**
   * Aborting stops admitting new sends; requests in flight finish (see `graceMs`).
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * After the run stops (`signal`, a 401/402 or an error), how long in-flight
   * requests may take before they are cut off (and recorded uncertain).
   * `Infinity` waits for every answer.
   *
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Aborting stops the run like `signal` and also cuts in-flight requests off at
   * once (a second Ctrl-C).
   *
   * @default {undefined}
   */
  hardSignal?: AbortSignal;
  /**
   * Called after every answer and decision, for progress displays.
   *
   * @default {undefined}
   */
  onProgress?: (counts: Readonly<SendCounts>) => void;
  /**
   * Awaited before each request leaves, after its `sending` record is durable:
   * e.g. to tell a shared work queue that the message may now be sent. If it
   * throws, the request does not leave (it is recorded `released`) and the run
   * stops, as when `sendSms` throws.
   *
   * @default {undefined}
   */
  beforeSend?: (recipient: R) => Promise<void>;
  /**
   * Awaited exactly once for every recipient the job reads, when it is done
   * with it: after the journal record for a decision made in this run, or
   * when it is skipped or left pending. A shared work queue completes (or hands
   * back) its entry here. If it throws, the run stops, as when the journal fails.
   *
   * @default {undefined}
   */
  onSettled?: (recipient: R, settlement: SendSettlement) => Promise<void>;
  /**
   * Where time comes from.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * The source of randomness for jitter, in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * Send one SMS to each recipient, as fast as the limiter allows, and record
 * every outcome. Resolves when every recipient is decided or the run stopped;
 * never rejects for an API answer, only for bugs, a failing journal, limiter or
 * recipient stream, or a `sendSms` that throws while the run goes on. Such an
 * error stops admission like an interrupt; the rejection comes once every
 * request in flight has been answered and recorded.
 *
 * @throws {RangeError} When an option is out of range (before anything is sent).
 *
 * @typeParam R The recipients' type: {@linkcode SendRecipient} or an extension of it,
 * handed back as it is to `beforeSend` and `onSettled`.
 *
 * @example Sending to a list through a paced client
 * ```ts ignore
 * import { runSendJob } from "./send_job.ts";
 * import { TokenBucket } from "../core/token_bucket.ts";
 *
 * const result = await runSendJob(recipients, {
 *   sendSms: client.sendSms,
 *   limiter: new TokenBucket({ ratePerSecond: 1 }),
 *   from: "Politely",
 *   text: "Hello!",
 *   journal,
 * });
 * console.log(result.accepted, result.failed, result.uncertain);
 * ```
 */
export async function runSendJob<R extends SendRecipient = SendRecipient>(
  recipients: RecipientSource<R>,
  options: SendJobOptions<R>,
): Promise<SendJobResult> {
  const {
    limiter,
    previous = new Map<string, JournalState>(),
    concurrency = 16,
    maxTimeMs = 300_000,
    maxTries = Infinity,
    paceDepartures = true,
    retryUncertain = false,
    resendUncertain = false,
    graceMs = 10_000,
    clock = realClock,
    random = Math.random,
  } = options;
  const invalid = (name: string, rule: string, value: unknown): RangeError =>
    new RangeError(
      `Cannot run send job: '${name}' must be ${rule}, current value is ${String(value)}`,
    );
  if (!(concurrency >= 1)) throw invalid("concurrency", "at least 1", concurrency);
  if (!(maxTries === Infinity || (Number.isInteger(maxTries) && maxTries >= 1))) {
    throw invalid("maxTries", "a positive integer or Infinity", maxTries);
  }
  if (!(maxTimeMs >= 0)) throw invalid("maxTimeMs", "a number >= 0", maxTimeMs);
  if (!(graceMs >= 0)) throw invalid("graceMs", "a number >= 0", graceMs);
  // The limiter is the one source of the rate: backoff, pauses and departures follow it.
  const intervalMs = 1000 / limiter.ratePerSecond;
  const backoff: BackoffOptions = {
    strategy: "exponential",
    jitter: "full",
    capMs: 60_000,
    ...options.backoff,
    baseMs: options.backoff?.baseMs ?? Math.min(1000, Math.max(10, intervalMs)),
    random: options.backoff?.random ?? random,
  };
  // A bad schedule fails here, before anything is sent, not on the first retry.
  createBackoff(backoff);
  const departures = paceDepartures ? new DeparturePacer(limiter, clock) : undefined;

  // The first request goes alone: bad credentials cost one request (plus the
  // client's one re-mint), not one per worker. The gate opens once the first
  // answer has been acted on (a 401 has stopped the run), or when the run stops.
  const control = new RunControl({
    signal: options.signal,
    hardSignal: options.hardSignal,
    graceMs,
    clock,
  });
  const settler = new Settler<R>({
    journal: options.journal,
    onSettled: options.onSettled,
    onProgress: options.onProgress,
  });
  const job: SendJobContext<R> = {
    sendSms: options.sendSms,
    limiter,
    departures,
    journal: options.journal,
    from: options.from,
    text: options.text,
    clientRefTag: options.clientRefTag,
    previous,
    beforeSend: options.beforeSend,
    control,
    settler,
    clock,
    backoff,
    maxTries,
    maxTimeMs,
    retryUncertain,
    timing: {},
  };

  const admit = async (recipient: R): Promise<void> => {
    settler.counts.total++;
    const before = previous.get(recipient.to);
    const state = before?.state;
    if (control.admission.aborted) {
      await settler.leavePending(recipient);
    } else if (
      before !== undefined &&
      (state === "accepted" || state === "failed" || (state === "uncertain" && !resendUncertain))
    ) {
      await settler.skip(recipient, before);
    } else if (recipient.doubt !== undefined && !resendUncertain) {
      await settler.decide(recipient, { kind: "uncertain", reason: recipient.doubt });
    } else {
      await new RecipientSend(recipient, job).run();
    }
  };

  try {
    await runWorkerPool(
      typeof recipients === "function" ? recipients(control.admission) : recipients,
      {
        workers: Math.max(1, Math.floor(concurrency)),
        handle: admit,
        fail: (error) => control.fail(error),
        firstAnswer: control.firstAnswer,
        onFirstDone: () => control.openGate(),
      },
    );
  } finally {
    control.dispose();
  }
  if (control.unexpected) throw control.unexpected.error;
  // A limiter that does not pace has no burst: count from the first request.
  const burst = Number.isFinite(limiter.burst) ? limiter.burst : 1;
  return jobResult(settler, job.timing, control, burst);
}

/** The result of a finished job, from its counts, timing and stop state. */
function jobResult<R extends SendRecipient>(
  settler: Settler<R>,
  timing: SendJobContext<R>["timing"],
  control: RunControl,
  burst: number,
): SendJobResult {
  const { firstSendMs, lastAnswerMs } = timing;
  const { counts } = settler;
  const elapsedMs = firstSendMs === undefined || lastAnswerMs === undefined
    ? 0
    : Math.max(0, lastAnswerMs - firstSendMs);
  const result: SendJobResult = {
    ...counts,
    failedByReason: settler.failedByReason,
    pending: settler.pending,
    elapsedMs,
    requestRatePerSecond: rateBeyondBurst(counts.attempts, burst, elapsedMs),
    achievedRatePerSecond: rateBeyondBurst(counts.accepted, burst, elapsedMs),
  };
  if (control.stoppedBy !== undefined) result.stoppedBy = control.stoppedBy;
  if (control.stopReason !== undefined) result.stopReason = control.stopReason;
  return result;
}

/**
 * Events per second after the first `burst` of them, or `undefined` when there is
 * nothing beyond the burst to measure. Counting every event over the elapsed time
 * would credit a one-request run with 1/latency (90.9/s for 11 ms).
 */
function rateBeyondBurst(count: number, burst: number, elapsedMs: number): number | undefined {
  return count > burst && elapsedMs > 0 ? (count - burst) / (elapsedMs / 1_000) : undefined;
}
