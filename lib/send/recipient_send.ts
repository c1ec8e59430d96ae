/**
 * One recipient's way through a send job: take a token, write `sending`, send,
 * act on the answer, retry what the server did not take, and settle. A message
 * that may have been accepted once is never `released` again: a later 429 does
 * not undo an earlier acceptance.
 *
 * @module
 */

import type { BackoffOptions } from "../core/backoff.ts";
import type { Clock } from "../core/clock.ts";
import {
  learnsFromThrottles,
  type Limiter,
  type ObserveDetail,
  pauseLimiter,
} from "../core/limiter.ts";
import { retry, RetryError } from "../core/retry.ts";
import type { DeparturePacer } from "./departure_pacer.ts";
import type { SendOutcome, SmsMessage, UncertainOutcome } from "../vonage/outcomes.ts";
import { clientRef } from "./client_ref.ts";
import type { JournalState } from "./journal.ts";
import { type RunControl, RunStopped } from "./run_control.ts";
import type { SendJournal, SendRecipient, SendSms } from "./send_job.ts";
import { describeOutcome, isNotAccepted, runStopFor, type Settler, stopsTheRun } from "./settle.ts";

/** What every recipient's send shares within one job. */
export interface SendJobContext<R extends SendRecipient> {
  sendSms: SendSms;
  limiter: Limiter;
  /** Re-spaces departures after the `sending` write (see `paceDepartures`). */
  departures: DeparturePacer | undefined;
  journal: SendJournal;
  from: string;
  text: string;
  clientRefTag: string | undefined;
  previous: ReadonlyMap<string, JournalState>;
  beforeSend: ((recipient: R) => Promise<void>) | undefined;
  control: RunControl;
  settler: Settler<R>;
  clock: Clock;
  backoff: BackoffOptions;
  maxTries: number;
  maxTimeMs: number;
  retryUncertain: boolean;
  /** When the first request left and the last answer came, for the summary. */
  timing: { firstSendMs?: number; lastAnswerMs?: number };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Send to one recipient until it is decided or the run stops; throws only what is
 * unexpected (after reporting it to the run's control).
 *
 * @example Inside a job (see runSendJob for the whole)
 * ```ts ignore
 * await new RecipientSend(recipient, job).run();
 * ```
 */
export class RecipientSend<R extends SendRecipient> {
  readonly #recipient: R;
  readonly #job: SendJobContext<R>;
  readonly #message: SmsMessage;
  /** The last answer, settled when retries run out. */
  #last: SendOutcome | undefined;
  /**
   * The first answer that left this message in doubt: in this run (with
   * `retryUncertain`), in an earlier run (resent with `resendUncertain`), or on a
   * dead worker (a queue's `doubt`). It ends uncertain unless a later try is accepted.
   */
  #doubt: UncertainOutcome | undefined;
  #sendError: { error: unknown } | undefined;

  constructor(recipient: R, job: SendJobContext<R>) {
    this.#recipient = recipient;
    this.#job = job;
    const ref = recipient.clientRef ??
      (job.clientRefTag === undefined ? undefined : clientRef(job.clientRefTag, recipient.to));
    this.#message = { to: recipient.to, from: job.from, text: recipient.text ?? job.text };
    if (ref !== undefined) this.#message.clientRef = ref;
    const earlier = job.previous.get(recipient.to);
    this.#doubt = earlier?.state === "uncertain"
      ? { kind: "uncertain", reason: earlier.reason }
      : recipient.doubt !== undefined
      ? { kind: "uncertain", reason: recipient.doubt }
      : undefined;
  }

  /** Send, retry and settle. */
  async run(): Promise<void> {
    const { control, limiter, clock, maxTries, maxTimeMs, backoff, retryUncertain } = this.#job;
    let outcome: SendOutcome;
    try {
      // The time budget starts when the first request may leave, not in the limiter's queue.
      await limiter.take(1, { signal: control.admission });
      outcome = await retry(async ({ attempt, signal: admitted }) => {
        try {
          return await this.#attempt(attempt, admitted);
        } catch (error) {
          // Once the run has stopped, retry() rethrows the stop instead: report this now.
          if (!this.#isStop(error)) control.fail(error);
          throw error;
        }
      }, {
        signal: control.admission,
        clock,
        maxAttempts: maxTries,
        maxElapsedMs: maxTimeMs,
        backoff,
        retryOn: () => false,
        retryOnResult: (answer) =>
          isNotAccepted(answer) || (retryUncertain && answer.kind === "uncertain"),
        delayHint: (result) => {
          const answer = result as SendOutcome | undefined;
          if (answer?.kind !== "throttled" && answer?.kind !== "unavailable") return undefined;
          // A learning limiter has already slowed the shared pace for a 429:
          // the message queues again at once, behind the others.
          if (
            answer.kind === "throttled" && answer.retryAfterMs === undefined &&
            learnsFromThrottles(limiter)
          ) {
            return 0;
          }
          return answer.retryAfterMs;
        },
        onRetry: ({ result, delayMs }) => {
          if (result?.kind === "throttled") this.#pauseAfterThrottle(result.retryAfterMs, delayMs);
        },
      });
    } catch (error) {
      if (error instanceof RetryError && this.#last !== undefined) {
        // Out of tries or time.
        await this.#settle(this.#last);
        return;
      }
      // Something unexpected (a bug, a broken journal or limiter) stops the run too.
      if (!this.#isStop(error)) control.fail(error);
      await this.#settle(undefined);
      return;
    }
    await this.#settle(outcome);
  }

  /** One request: token (for retries), durable `sending`, departure pacing, the call. */
  async #attempt(attempt: number, admitted: AbortSignal): Promise<SendOutcome> {
    const { limiter, journal, beforeSend, departures, control, settler, sendSms, clock, timing } =
      this.#job;
    const { to } = this.#recipient;
    if (attempt > 1) await limiter.take(1, { signal: admitted });
    admitted.throwIfAborted();
    await journal.sending(to, undefined, this.#recipient.clientRef);
    if (admitted.aborted) {
      // Stopped while the record was being written: this request does not leave.
      await this.#release("not sent: the run stopped");
      admitted.throwIfAborted();
    }
    if (beforeSend !== undefined) {
      try {
        await beforeSend(this.#recipient);
      } catch (error) {
        // Like a sendSms that throws: the request never left.
        this.#sendError = { error };
        await this.#release("not sent: " + describeError(error));
        throw error;
      }
      if (admitted.aborted) {
        await this.#release("not sent: the run stopped");
        admitted.throwIfAborted();
      }
    }
    if (departures !== undefined) {
      try {
        await departures.take(admitted);
      } catch (error) {
        await this.#release("not sent: the run stopped");
        throw error;
      }
    }
    timing.firstSendMs ??= clock.now();
    settler.counts.attempts++;
    let answer: SendOutcome;
    try {
      answer = await sendSms(this.#message, {
        signal: control.inFlight,
        beforeRetry: async () => {
          await limiter.take(1, { signal: admitted });
          await departures?.take(admitted);
          settler.counts.attempts++;
        },
      });
    } catch (error) {
      // sendSms throws only before the request leaves: nothing was sent.
      this.#sendError = { error };
      await this.#release("not sent: " + describeError(error));
      throw error;
    }
    timing.lastAnswerMs = clock.now();
    this.#last = answer;
    if (answer.kind === "uncertain") this.#doubt ??= answer;
    this.#observe(answer);
    const stop = runStopFor(answer);
    if (isNotAccepted(answer) || stop !== undefined) await this.#release(describeOutcome(answer));
    if (stop !== undefined) control.stop(stop, describeOutcome(answer));
    // Only now may the other workers start: a 401 has stopped the run by this point.
    control.openGate();
    settler.progress();
    return answer;
  }

  /** Tell the limiter what the server said: a limiter that learns slows itself after a 429. */
  #observe(answer: SendOutcome): void {
    const { limiter, settler } = this.#job;
    if (answer.kind === "throttled") {
      settler.counts.throttled++;
      const detail: ObserveDetail = {};
      if (answer.limitPerSecond !== undefined) detail.limitPerSecond = answer.limitPerSecond;
      if (answer.retryAfterMs !== undefined) detail.retryAfterMs = answer.retryAfterMs;
      limiter.observe?.("throttled", detail);
    } else if (answer.kind === "accepted") {
      limiter.observe?.("accepted");
    }
  }

  /**
   * A 429 slows the whole run, not just this message. With the server's hint,
   * nobody sends before it runs out. Without one, a learning limiter has slowed
   * itself; any other is paused for this message's backoff (at least one token
   * interval of its rate, which is what the server's bucket needs to refill).
   */
  #pauseAfterThrottle(retryAfterMs: number | undefined, delayMs: number): void {
    const { limiter } = this.#job;
    if (retryAfterMs === undefined && learnsFromThrottles(limiter)) return;
    const pauseMs = retryAfterMs ?? Math.max(1000 / limiter.ratePerSecond, delayMs);
    if (!(pauseMs < Infinity)) return;
    pauseLimiter(limiter, pauseMs);
  }

  /** Settle with the last outcome, or none when the run stopped first. */
  async #settle(outcome: SendOutcome | undefined): Promise<void> {
    const { settler } = this.#job;
    const doubt = this.#doubt;
    if (
      outcome?.kind === "accepted" ||
      (doubt === undefined && outcome?.kind === "rejected" && !stopsTheRun(outcome))
    ) {
      await settler.decide(this.#recipient, outcome);
    } else if (doubt !== undefined) {
      const later = outcome === undefined || outcome === doubt
        ? ""
        : ` (last try: ${describeOutcome(outcome)})`;
      await settler.decide(this.#recipient, { ...doubt, reason: doubt.reason + later });
    } else if (outcome === undefined || stopsTheRun(outcome)) {
      // Stopped before this message was decided: it stays pending (the journal
      // holds a `released` record for any attempt that was refused).
      await settler.leavePending(this.#recipient);
    } else {
      await settler.decide(this.#recipient, outcome);
    }
  }

  /** The last request was definitely not accepted: pending again, unless in doubt. */
  async #release(reason: string): Promise<void> {
    if (this.#doubt === undefined) await this.#job.journal.released(this.#recipient.to, reason);
  }

  /** The run stopped, and this request never left or its answer came too late to retry. */
  #isStop(error: unknown): boolean {
    return error instanceof RunStopped ||
      (this.#sendError !== undefined && error === this.#sendError.error &&
        this.#job.control.admission.aborted);
  }
}
