/**
 * The bulk send: one SMS per recipient, paced by a limiter, retried by policy,
 * every outcome journaled.
 *
 * Each message follows the server-answer table in DESIGN.md:
 *
 * | answer | what the job does |
 * |---|---|
 * | accepted | record it; done |
 * | throttled (429) | pause the shared limiter (the server's hint, else this message's backoff, at least one token interval), ease the rate a little, retry |
 * | unavailable (503), not-sent | retry with backoff or the server's hint |
 * | auth (401 after a fresh token, 403) | stop the whole run; unsent recipients stay pending |
 * | payment (402) | stop the whole run |
 * | unexpected (a redirect, 404, 405 …: not the Messages API) | stop the whole run |
 * | rejected (400, 413, 422 …) | record it failed; continue |
 * | uncertain (500, timeout …) | record it uncertain, or retry with `retryUncertain` |
 *
 * Every attempt, first or retry, takes a token from the one limiter, and a
 * `sending` record is durable before the request leaves. Retries happen here
 * and only here: the client makes one attempt.
 *
 * A job can also be one worker among several sharing a work queue: the
 * recipients then come from a function given the job's admission signal (so
 * the queue is not read past a stop), `beforeSend` and `onSettled` report
 * each recipient's progress to the queue, and a recipient may carry a `doubt`
 * (another worker may already have sent it).
 *
 * @module
 */

import { type BackoffOptions, createBackoff } from "../core/backoff.ts";
import { type Clock, realClock } from "../core/clock.ts";
import type { JournalState } from "./journal.ts";
import type { Limiter } from "../core/limiter.ts";
import type { Recipient } from "./recipients.ts";
import { retry, RetryError } from "../core/retry.ts";
import { TokenBucket } from "../core/token_bucket.ts";
import type { SendOutcome, SmsMessage, UncertainOutcome } from "../vonage/outcomes.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { BackoffOptions, BackoffStrategy, Jitter } from "../core/backoff.ts";
export type { Clock } from "../core/clock.ts";
export type { JournalState } from "./journal.ts";
export type { Limiter, LimiterOutcome, TakeOptions } from "../core/limiter.ts";
export type { Recipient } from "./recipients.ts";
export type {
  AcceptedOutcome,
  AuthOutcome,
  InvalidParameter,
  NotSentOutcome,
  PaymentOutcome,
  RejectedOutcome,
  SendOutcome,
  SmsMessage,
  ThrottledOutcome,
  UnavailableOutcome,
  UncertainOutcome,
} from "../vonage/outcomes.ts";

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
  /** Durably record that a request for `to` is about to leave. */
  sending(to: string): Promise<void>;
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
  stoppedBy?: "auth" | "payment" | "unexpected" | "interrupt" | "error";
  /** The answer that stopped the run, for people. */
  stopReason?: string;
  /** Milliseconds from the first request to the last answer (of any kind). */
  elapsedMs: number;
  /** The pace achieved: accepted messages after the first, per second of `elapsedMs`. */
  achievedRatePerSecond: number;
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
   * The retry schedule; `baseMs` defaults to one token interval of `ratePerSecond`
   * (at least 10 ms, at most 1 s).
   *
   * @default {{ strategy: "exponential", jitter: "full" }}
   */
  backoff?: BackoffOptions;
  /**
   * The configured rate, used for the default backoff base, the pause after a
   * 429 without a hint, pacing departures, and the summary.
   *
   * @default {1}
   */
  ratePerSecond?: number;
  /**
   * The configured burst, for pacing departures.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * Space the requests' actual departures at `ratePerSecond` (with `burst`) too.
   * The limiter grants tokens at the right pace, but the durable `sending`
   * write (an fsync) and `beforeSend` come between the grant and the request:
   * a slow disk or server would hold requests back and then let them leave
   * together. A local token bucket right before each request re-spaces them;
   * in steady state it never waits. Turn it off only to send unpaced on purpose.
   *
   * @default {true}
   */
  paceDepartures?: boolean;
  /**
   * After each 429, lower the limiter's rate by this share (via `setRate`, when
   * the limiter has one), never below `minRateShare` of the configured rate, and
   * never upwards: a strict server turns arrival jitter into 429s, so the job
   * learns a margin instead of repeating them. 0 turns it off. In [0, 1).
   *
   * @default {0.02}
   */
  easeOnThrottle?: number;
  /**
   * The lowest share of `ratePerSecond` that easing may reach. In [0, 1].
   *
   * @default {0.8}
   */
  minRateShare?: number;
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

type SetRate = { setRate(ratePerSecond: number, burst?: number): void; ratePerSecond: number };

function canSetRate(limiter: Limiter): limiter is Limiter & SetRate {
  const candidate = limiter as Partial<SetRate>;
  return typeof candidate.setRate === "function" && typeof candidate.ratePerSecond === "number";
}

/** The run stopped (auth, payment or interrupt): a message that was not sent stays pending. */
class RunStopped extends Error {}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Retrying these cannot cause a duplicate: the server did not take the message. */
function isNotAccepted(outcome: SendOutcome): boolean {
  return outcome.kind === "throttled" || outcome.kind === "unavailable" ||
    outcome.kind === "not-sent";
}

/**
 * Answers that every later message would meet too (bad credentials, no credit,
 * a wrong endpoint): the run stops and the recipients stay pending.
 */
function stopsTheRun(
  outcome: SendOutcome,
): outcome is Extract<SendOutcome, { kind: "auth" | "payment" | "unexpected" }> {
  return outcome.kind === "auth" || outcome.kind === "payment" || outcome.kind === "unexpected";
}

function describeOutcome(outcome: SendOutcome): string {
  switch (outcome.kind) {
    case "accepted":
      return "accepted";
    case "uncertain":
    case "not-sent":
      return outcome.reason;
    case "rejected": {
      const fields = outcome.invalidParameters.map((p) => `${p.name}: ${p.reason}`).join("; ");
      const what = [outcome.title, outcome.detail].filter((part) => part !== "").join(": ");
      return `${outcome.status} ${what}${fields === "" ? "" : ` (${fields})`}`;
    }
    default:
      return `${outcome.status} ${outcome.title}`;
  }
}

/**
 * Counters at the start of a run: all zero.
 *
 * @example Showing progress before the first answer
 * ```ts
 * import { emptySendCounts } from "./send_job.ts";
 *
 * const counts = emptySendCounts();
 * console.log(counts.accepted, counts.attempts); // 0 0
 * ```
 */
export function emptySendCounts(): SendCounts {
  return { total: 0, accepted: 0, failed: 0, uncertain: 0, skipped: 0, attempts: 0, throttled: 0 };
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
    sendSms,
    limiter,
    from,
    text,
    journal,
    previous = new Map<string, JournalState>(),
    concurrency = 16,
    maxTimeMs = 300_000,
    maxTries = Infinity,
    ratePerSecond = 1,
    burst = 1,
    paceDepartures = true,
    easeOnThrottle = 0.02,
    minRateShare = 0.8,
    retryUncertain = false,
    resendUncertain = false,
    signal,
    graceMs = 10_000,
    hardSignal,
    onProgress,
    beforeSend,
    onSettled,
    clock = realClock,
    random = Math.random,
  } = options;
  const invalid = (name: string, rule: string, value: unknown): RangeError =>
    new RangeError(
      `Cannot run send job: '${name}' must be ${rule}, current value is ${String(value)}`,
    );
  if (!(concurrency >= 1)) throw invalid("concurrency", "at least 1", concurrency);
  if (!(ratePerSecond > 0)) throw invalid("ratePerSecond", "a positive number", ratePerSecond);
  if (!(maxTries === Infinity || (Number.isInteger(maxTries) && maxTries >= 1))) {
    throw invalid("maxTries", "a positive integer or Infinity", maxTries);
  }
  if (!(maxTimeMs >= 0)) throw invalid("maxTimeMs", "a number >= 0", maxTimeMs);
  if (!(graceMs >= 0)) throw invalid("graceMs", "a number >= 0", graceMs);
  if (!(easeOnThrottle >= 0 && easeOnThrottle < 1)) {
    throw invalid("easeOnThrottle", "a number in [0, 1)", easeOnThrottle);
  }
  if (!(minRateShare >= 0 && minRateShare <= 1)) {
    throw invalid("minRateShare", "a number in [0, 1]", minRateShare);
  }
  const intervalMs = 1000 / ratePerSecond;
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
  const floorRate = ratePerSecond * minRateShare;
  // Validated here, before anything is sent (a bad burst is a RangeError).
  const departures = paceDepartures ? new TokenBucket({ ratePerSecond, burst, clock }) : undefined;

  const counts = emptySendCounts();
  const failedByReason: Record<string, number> = {};
  let pending = 0;
  let stoppedBy: SendJobResult["stoppedBy"];
  let stopReason: string | undefined;
  let unexpected: { error: unknown } | undefined;
  let firstSendMs: number | undefined;
  let lastAnswerMs: number | undefined;

  // The first request goes alone: bad credentials cost one request (plus the
  // client's one re-mint), not one per worker. The gate opens once the first
  // answer has been acted on (a 401 has stopped the run), or when the run stops.
  let openGate!: () => void;
  const firstAnswer = new Promise<void>((resolve) => (openGate = resolve));

  // In flight: cut off when the grace period after a stop runs out, or at once on hardSignal.
  const inFlight = new AbortController();
  const cutOff = () => {
    if (!inFlight.signal.aborted) inFlight.abort(new RunStopped("cut off"));
  };

  // Admission: aborted by the caller's signals, a run-stopping answer or an unexpected error.
  const admission = new AbortController();
  const graceTimer = new AbortController();
  admission.signal.addEventListener("abort", () => {
    openGate();
    // A grace period of Infinity means "wait for every answer": no timer at all.
    if (Number.isFinite(graceMs)) clock.sleep(graceMs, graceTimer.signal).then(cutOff, () => {});
  }, { once: true });
  const stopRun = (why: NonNullable<SendJobResult["stoppedBy"]>, reason: string) => {
    if (stoppedBy === undefined) {
      stoppedBy = why;
      stopReason = reason;
    }
    if (!admission.signal.aborted) admission.abort(new RunStopped(reason));
  };
  const fail = (error: unknown) => {
    unexpected ??= { error };
    stopRun("error", describeError(error));
  };
  const onCallerAbort = () => stopRun("interrupt", "interrupted");
  // A hard stop is a stop too: nothing new may start, or it would go out with an
  // aborted signal.
  const onHardAbort = () => {
    stopRun("interrupt", "interrupted");
    cutOff();
  };
  if (signal?.aborted) onCallerAbort();
  signal?.addEventListener("abort", onCallerAbort, { once: true });
  if (hardSignal?.aborted) onHardAbort();
  hardSignal?.addEventListener("abort", onHardAbort, { once: true });

  const progress = () => onProgress?.(counts);

  const decide = async (recipient: R, outcome: SendOutcome): Promise<void> => {
    const { to } = recipient;
    let settlement: SendSettlement;
    switch (outcome.kind) {
      case "accepted":
        counts.accepted++;
        await journal.accepted(to, outcome.messageUuid);
        settlement = { state: "accepted", messageUuid: outcome.messageUuid };
        break;
      case "rejected": {
        const reason = describeOutcome(outcome);
        counts.failed++;
        failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        await journal.failed(to, reason);
        settlement = { state: "failed", reason };
        break;
      }
      case "uncertain":
        counts.uncertain++;
        await journal.uncertain(to, outcome.reason);
        settlement = { state: "uncertain", reason: outcome.reason };
        break;
      default: {
        // Not accepted, and retries are over: a definite failure.
        const reason = `gave up: ${describeOutcome(outcome)}`;
        counts.failed++;
        failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        await journal.failed(to, reason);
        settlement = { state: "failed", reason };
      }
    }
    // Counted first, so a failing hook still leaves the counts right.
    progress();
    await onSettled?.(recipient, settlement);
  };

  /** Stopped before this recipient was decided: it stays pending. */
  const leavePending = async (recipient: R): Promise<void> => {
    pending++;
    progress();
    await onSettled?.(recipient, { state: "pending" });
  };

  /** Send to one recipient until it is decided or the run stops; throws only what is unexpected. */
  const sendOne = async (recipient: R): Promise<void> => {
    const { to } = recipient;
    const message: SmsMessage = { to, from, text: recipient.text ?? text };
    let last: SendOutcome | undefined;
    // The first answer that left this message in doubt: in this run (with
    // `retryUncertain`), in an earlier run (resent with `resendUncertain`), or on a
    // dead worker (a queue's `doubt`). From then on it is never `released`: a later
    // 429 does not undo an earlier acceptance, so a crash replays it as uncertain,
    // and it ends uncertain unless a later try is accepted.
    const earlier = previous.get(to);
    let doubt: UncertainOutcome | undefined = earlier?.state === "uncertain"
      ? { kind: "uncertain", reason: earlier.reason }
      : recipient.doubt !== undefined
      ? { kind: "uncertain", reason: recipient.doubt }
      : undefined;
    let sendError: { error: unknown } | undefined;
    // The run stopped, and this request never left or its answer came too late to retry.
    const isStop = (error: unknown): boolean =>
      error instanceof RunStopped ||
      (sendError !== undefined && error === sendError.error && admission.signal.aborted);
    const release = async (reason: string): Promise<void> => {
      if (doubt === undefined) await journal.released(to, reason);
    };
    const settle = async (outcome: SendOutcome | undefined): Promise<void> => {
      if (outcome?.kind === "accepted" || (doubt === undefined && outcome?.kind === "rejected")) {
        await decide(recipient, outcome);
      } else if (doubt !== undefined) {
        const later = outcome === undefined || outcome === doubt
          ? ""
          : ` (last try: ${describeOutcome(outcome)})`;
        await decide(recipient, { ...doubt, reason: doubt.reason + later });
      } else if (outcome === undefined || stopsTheRun(outcome)) {
        // Stopped before this message was decided: it stays pending (the journal
        // holds a `released` record for any attempt that was refused).
        await leavePending(recipient);
      } else {
        await decide(recipient, outcome);
      }
    };

    const attemptOnce = async (attempt: number, admitted: AbortSignal): Promise<SendOutcome> => {
      if (attempt > 1) await limiter.take(1, { signal: admitted });
      admitted.throwIfAborted();
      await journal.sending(to);
      if (admitted.aborted) {
        // Stopped while the record was being written: this request does not leave.
        await release("not sent: the run stopped");
        admitted.throwIfAborted();
      }
      if (beforeSend !== undefined) {
        try {
          await beforeSend(recipient);
        } catch (error) {
          // Like a sendSms that throws: the request never left.
          sendError = { error };
          await release("not sent: " + describeError(error));
          throw error;
        }
        if (admitted.aborted) {
          await release("not sent: the run stopped");
          admitted.throwIfAborted();
        }
      }
      if (departures !== undefined) {
        try {
          await departures.take(1, { signal: admitted });
        } catch (error) {
          await release("not sent: the run stopped");
          throw error;
        }
      }
      firstSendMs ??= clock.now();
      counts.attempts++;
      let answer: SendOutcome;
      try {
        answer = await sendSms(message, {
          signal: inFlight.signal,
          beforeRetry: async () => {
            await limiter.take(1, { signal: admitted });
            await departures?.take(1, { signal: admitted });
            counts.attempts++;
          },
        });
      } catch (error) {
        // sendSms throws only before the request leaves: nothing was sent.
        sendError = { error };
        await release("not sent: " + describeError(error));
        throw error;
      }
      lastAnswerMs = clock.now();
      last = answer;
      if (answer.kind === "uncertain") doubt ??= answer;
      if (answer.kind === "throttled") {
        counts.throttled++;
        limiter.observe?.("throttled");
        if (easeOnThrottle > 0 && canSetRate(limiter)) {
          const current = limiter.ratePerSecond;
          const eased = Math.max(floorRate, current * (1 - easeOnThrottle));
          // Only ever slower: a limiter already below the floor is left as it is.
          if (eased < current) limiter.setRate(eased);
        }
      } else if (answer.kind === "accepted") {
        limiter.observe?.("accepted");
      }
      if (isNotAccepted(answer) || stopsTheRun(answer)) await release(describeOutcome(answer));
      if (stopsTheRun(answer)) stopRun(answer.kind, describeOutcome(answer));
      // Only now may the other workers start: a 401 has stopped the run by this point.
      openGate();
      progress();
      return answer;
    };

    let outcome: SendOutcome;
    try {
      // The time budget starts when the first request may leave, not in the limiter's queue.
      await limiter.take(1, { signal: admission.signal });
      outcome = await retry(async ({ attempt, signal: admitted }) => {
        try {
          return await attemptOnce(attempt, admitted);
        } catch (error) {
          // Once the run has stopped, retry() rethrows the stop instead: report this now.
          if (!isStop(error)) fail(error);
          throw error;
        }
      }, {
        signal: admission.signal,
        clock,
        maxAttempts: maxTries,
        maxElapsedMs: maxTimeMs,
        backoff,
        retryOn: () => false,
        retryOnResult: (answer) =>
          isNotAccepted(answer) || (retryUncertain && answer.kind === "uncertain"),
        delayHint: (answer) =>
          answer !== null && typeof answer === "object" && "retryAfterMs" in answer
            ? (answer as { retryAfterMs?: number }).retryAfterMs
            : undefined,
        // A 429 slows the whole run, not just this message: nobody sends before
        // the server's hint runs out, or this message's backoff (at least one
        // token interval, which is what the server's bucket needs to refill).
        onRetry: ({ result, delayMs }) => {
          if (result?.kind !== "throttled") return;
          const pauseMs = result.retryAfterMs ?? Math.max(intervalMs, delayMs);
          // A shared limiter's pause may be a promise; its failure shows up in the next take.
          const paused: unknown = limiter.pause?.(pauseMs);
          if (paused instanceof Promise) paused.catch(() => {});
        },
      });
    } catch (error) {
      if (error instanceof RetryError && last !== undefined) {
        // Out of tries or time.
        await settle(last);
        return;
      }
      // Something unexpected (a bug, a broken journal or limiter) stops the run too.
      if (!isStop(error)) fail(error);
      await settle(undefined);
      return;
    }
    await settle(outcome);
  };

  const admit = async (recipient: R): Promise<void> => {
    counts.total++;
    const before = previous.get(recipient.to);
    const state = before?.state;
    if (admission.signal.aborted) {
      await leavePending(recipient);
    } else if (
      before !== undefined &&
      (state === "accepted" || state === "failed" || (state === "uncertain" && !resendUncertain))
    ) {
      counts.skipped++;
      progress();
      await onSettled?.(recipient, { state: "skipped", previous: before });
    } else if (recipient.doubt !== undefined && !resendUncertain) {
      await decide(recipient, { kind: "uncertain", reason: recipient.doubt });
    } else {
      await sendOne(recipient);
    }
  };

  const source = typeof recipients === "function" ? recipients(admission.signal) : recipients;
  const iterator =
    (Symbol.asyncIterator in source
      ? (source as AsyncIterable<R>)[Symbol.asyncIterator]()
      : (source as Iterable<R>)[Symbol.iterator]()) as
        | AsyncIterator<R>
        | Iterator<R>;
  // A worker never rejects: an error stops admission and is rethrown once every
  // worker is done, so no request is still in flight when the caller hears of it.
  const worker = async (index: number): Promise<void> => {
    // Workers other than the first start once the first answer is in.
    if (index > 0) await firstAnswer;
    try {
      for (;;) {
        let recipient: R;
        try {
          const next = await iterator.next();
          if (next.done) return;
          recipient = next.value;
        } catch (error) {
          // The input broke (a read error): nothing more can be admitted.
          fail(error);
          return;
        }
        try {
          await admit(recipient);
        } catch (error) {
          fail(error);
        }
      }
    } finally {
      if (index === 0) openGate();
    }
  };

  try {
    const workers = Math.max(1, Math.floor(Math.min(concurrency, 1_000_000)));
    await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  } finally {
    signal?.removeEventListener("abort", onCallerAbort);
    hardSignal?.removeEventListener("abort", onHardAbort);
    graceTimer.abort();
    openGate();
  }
  if (unexpected) throw unexpected.error;

  const elapsedMs = firstSendMs === undefined || lastAnswerMs === undefined
    ? 0
    : Math.max(0, lastAnswerMs - firstSendMs);
  const result: SendJobResult = {
    ...counts,
    failedByReason,
    pending,
    elapsedMs,
    achievedRatePerSecond: elapsedMs > 0 && counts.accepted > 1
      ? (counts.accepted - 1) / (elapsedMs / 1000)
      : 0,
  };
  if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
  if (stopReason !== undefined) result.stopReason = stopReason;
  return result;
}
