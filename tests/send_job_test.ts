import assert from "node:assert/strict";
import { createRandom } from "../lib/core/seeded_random.ts";
import { busiestSecond } from "./support/windows.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { hashMessageText, Journal, type JournalState } from "../lib/send/journal.ts";
import type { Limiter, LimiterOutcome, TakeOptions } from "../lib/core/limiter.ts";
import type { Recipient } from "../lib/send/recipients.ts";
import {
  runSendJob,
  type SendCounts,
  type SendJobOptions,
  type SendJobResult,
  type SendJournal,
  type SendRecipient,
  type SendSettlement,
  type SendSms,
} from "../lib/send/send_job.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import type { SendOutcome, SmsMessage } from "../lib/vonage/mod.ts";

// ---------------------------------------------------------------------------
// Outcomes, as the Vonage client reports them.

const accepted = (to: string, attempt: number): SendOutcome => ({
  kind: "accepted",
  status: 202,
  messageUuid: `uuid-${to}-${attempt}`,
});
const throttled = (retryAfterMs?: number): SendOutcome =>
  retryAfterMs === undefined
    ? { kind: "throttled", status: 429, title: "Rate Limit Hit", detail: "" }
    : { kind: "throttled", status: 429, title: "Rate Limit Hit", detail: "", retryAfterMs };
const unavailable = (retryAfterMs: number): SendOutcome => ({
  kind: "unavailable",
  status: 503,
  title: "Service Unavailable",
  detail: "",
  retryAfterMs,
});
const invalidNumber: SendOutcome = {
  kind: "rejected",
  status: 422,
  title: "Invalid params",
  detail: "The value of one or more parameters is invalid.",
  invalidParameters: [{ name: "to", reason: "Not a valid phone number" }],
};
const unauthorized: SendOutcome = {
  kind: "auth",
  status: 401,
  title: "Unauthorized",
  detail: "Invalid Token",
};
const outOfCredit: SendOutcome = {
  kind: "payment",
  status: 402,
  title: "Low balance",
  detail: "This request could not be performed due to your account balance being low.",
};
const serverError: SendOutcome = { kind: "uncertain", status: 500, reason: "server error 500" };
const refused: SendOutcome = { kind: "not-sent", reason: "Connection refused (os error 111)" };

// ---------------------------------------------------------------------------
// The fakes: one event log shared by the journal and the API, in virtual time.

type EventType =
  | "sending" // journal.sending() was called
  | "durable" // … and its promise resolved
  | "released"
  | "accepted"
  | "failed"
  | "uncertain"
  | "call" // sendSms() was called
  | "answer" // sendSms() returned
  | "before" // the beforeSend hook ran
  | "settled"; // the onSettled hook ran

interface Event {
  type: EventType;
  to: string;
  atMs: number;
  /** A reason, a message uuid, or an outcome kind. */
  detail?: string;
}

class Log {
  readonly events: Event[] = [];
  constructor(readonly clock: FakeClock) {}
  add(type: EventType, to: string, detail?: string): void {
    const event: Event = { type, to, atMs: this.clock.now() };
    if (detail !== undefined) event.detail = detail;
    this.events.push(event);
  }
  of(to: string, ...types: EventType[]): Event[] {
    return this.events.filter((e) => e.to === to && (types.length === 0 || types.includes(e.type)));
  }
  typesOf(to: string, ...types: EventType[]): string[] {
    return this.of(to, ...types).map((e) => e.type);
  }
  count(type: EventType): number {
    return this.events.filter((e) => e.type === type).length;
  }
}

interface RecordingJournalOptions {
  /** Virtual time a `sending` record takes to become durable (an fsync). */
  sendingDelayMs?: number;
  /** Make one record fail: the journal's promise rejects with `error`. */
  failOn?: { type: "sending" | "released" | "accepted"; to: string; error: Error };
}

/** A {@linkcode SendJournal} that writes every record into the log. */
class RecordingJournal implements SendJournal {
  constructor(readonly log: Log, readonly options: RecordingJournalOptions = {}) {}

  async #record(type: EventType, to: string, detail?: string): Promise<void> {
    this.log.add(type, to, detail);
    const fail = this.options.failOn;
    if (fail !== undefined && fail.type === type && fail.to === to) throw fail.error;
    await Promise.resolve();
  }

  async sending(to: string): Promise<void> {
    await this.#record("sending", to);
    const delayMs = this.options.sendingDelayMs ?? 0;
    if (delayMs > 0) await this.log.clock.sleep(delayMs);
    this.log.add("durable", to);
  }
  released(to: string, reason: string): Promise<void> {
    return this.#record("released", to, reason);
  }
  accepted(to: string, messageUuid: string): Promise<void> {
    return this.#record("accepted", to, messageUuid);
  }
  failed(to: string, reason: string): Promise<void> {
    return this.#record("failed", to, reason);
  }
  uncertain(to: string, reason: string): Promise<void> {
    return this.#record("uncertain", to, reason);
  }
}

/** What the scripted API does with one request: answer after `latencyMs`, or throw. */
type Step = SendOutcome | { outcome: SendOutcome; latencyMs?: number } | { throws: Error };

/**
 * A scripted `sendSms`: `script(to, attempt)` says what happens to the
 * attempt-th request for `to`. Like the real client, it throws when its signal
 * is already aborted (the request never leaves) and answers `uncertain` when
 * the signal aborts while the request is in flight.
 */
class FakeApi {
  readonly #tries = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  readonly messages: SmsMessage[] = [];

  constructor(
    readonly log: Log,
    readonly script: (to: string, attempt: number) => Step = (to, attempt) => accepted(to, attempt),
    readonly defaultLatencyMs = 0,
  ) {}

  sendSms = async (message: SmsMessage, options: { signal: AbortSignal }): Promise<SendOutcome> => {
    const { to } = message;
    const attempt = (this.#tries.get(to) ?? 0) + 1;
    this.#tries.set(to, attempt);
    this.messages.push(message);
    this.log.add("call", to, String(attempt));
    options.signal.throwIfAborted();
    const step = this.script(to, attempt);
    if ("throws" in step) throw step.throws;
    const { outcome, latencyMs = this.defaultLatencyMs } = "outcome" in step
      ? step
      : { outcome: step };
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let answer = outcome;
    try {
      if (latencyMs > 0) await this.log.clock.sleep(latencyMs, options.signal);
    } catch {
      answer = { kind: "uncertain", reason: "aborted while the request was in flight" };
    } finally {
      this.inFlight--;
    }
    this.log.add("answer", to, answer.kind);
    return answer;
  };

  calls(to: string): number {
    return this.#tries.get(to) ?? 0;
  }
}

/**
 * A limiter that grants at once unless paused, and records what the job told
 * it. With `learns: false` it has no `observe` (a limiter that cannot learn,
 * which the job pauses for a backoff after a 429 without a hint).
 */
class RecordingLimiter implements Limiter {
  readonly burst = 1;
  readonly pauses: Array<{ atMs: number; ms: number }> = [];
  readonly observed: LimiterOutcome[] = [];
  readonly observe?: (outcome: LimiterOutcome) => void;
  #pausedUntilMs = -Infinity;

  constructor(readonly clock: FakeClock, public ratePerSecond: number, { learns = true } = {}) {
    if (learns) this.observe = (outcome) => void this.observed.push(outcome);
  }

  async take(_n?: number, options?: TakeOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const waitMs = this.#pausedUntilMs - this.clock.now();
    if (waitMs > 0) await this.clock.sleep(waitMs, options?.signal);
  }
  pause(ms: number): void {
    this.pauses.push({ atMs: this.clock.now(), ms });
    this.#pausedUntilMs = Math.max(this.#pausedUntilMs, this.clock.now() + ms);
  }
}

/** `n` recipients with distinct numbers, in order. */
function recipients(n: number): Recipient[] {
  return Array.from({ length: n }, (_, i) => ({ line: i + 2, to: `1415555${1000 + i}` }));
}

/**
 * Run virtual time until `job` settles: wake the next sleeper whenever there
 * is one, else give real I/O (a journal file) a moment.
 */
async function drive<T>(clock: FakeClock, job: Promise<T>): Promise<T> {
  let settled = false;
  job.then(() => (settled = true), () => (settled = true));
  let idle = 0;
  while (!settled) {
    if (clock.pendingSleepers > 0) {
      idle = 0;
      await clock.advanceTo(clock.nextDueMs!);
    } else {
      if (++idle > 2_000) {
        throw new Error("the send job hangs: nothing sleeps and it has not ended");
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  return job;
}

type Overrides = Partial<SendJobOptions>;

/** Run a job on a fresh setup; everything not overridden is the plain default. */
async function run(
  clock: FakeClock,
  list: Iterable<Recipient> | AsyncIterable<Recipient>,
  api: FakeApi,
  overrides: Overrides = {},
): Promise<SendJobResult> {
  const options: SendJobOptions = {
    sendSms: api.sendSms,
    limiter: new RecordingLimiter(clock, 20),
    from: "Acme",
    text: "Hello",
    journal: new RecordingJournal(api.log),
    clock,
    random: () => 0.5,
    ...overrides,
  };
  return await drive(clock, runSendJob(list, options));
}

/** Every recipient handed over ends in exactly one bucket. */
function assertBalanced(result: SendJobResult): void {
  assert.equal(
    result.accepted + result.failed + result.uncertain + result.skipped + result.pending,
    result.total,
    `counts do not add up: ${JSON.stringify(result)}`,
  );
}

/** For every number: each sendSms call comes after as many durable `sending` records. */
function assertSendingBeforeEveryCall(log: Log): void {
  const durable = new Map<string, number>();
  const calls = new Map<string, number>();
  for (const event of log.events) {
    if (event.type === "durable") durable.set(event.to, (durable.get(event.to) ?? 0) + 1);
    if (event.type === "call") {
      const n = (calls.get(event.to) ?? 0) + 1;
      calls.set(event.to, n);
      assert.ok(
        (durable.get(event.to) ?? 0) >= n,
        `call ${n} to ${event.to} at ${event.atMs} ms left before its sending record was durable`,
      );
    }
  }
}

const constantNoJitter = { strategy: "constant", jitter: "none" } as const;

// ---------------------------------------------------------------------------
// Pacing and the first request.

Deno.test("runSendJob() paces 100 sends at exactly 50 ms through a 20/s bucket", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log);
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const result = await run(clock, recipients(100), api, { limiter });

  const callTimes = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
  assert.deepEqual(callTimes, Array.from({ length: 100 }, (_, i) => i * 50));
  assert.equal(result.accepted, 100);
  assert.equal(result.attempts, 100);
  assert.equal(result.throttled, 0);
  assert.equal(result.elapsedMs, 4950);
  assert.ok(Math.abs(result.achievedRatePerSecond! - 20) < 1e-9, `${result.achievedRatePerSecond}`);
  assert.ok(Math.abs(result.requestRatePerSecond! - 20) < 1e-9, `${result.requestRatePerSecond}`);
  assert.equal(result.pending, 0);
  assert.equal(result.stoppedBy, undefined);
  assertBalanced(result);
  // Every number got its own text and one accepted record with the server's uuid.
  for (const { to } of recipients(100)) {
    assert.deepEqual(log.of(to, "accepted").map((e) => e.detail), [`uuid-${to}-1`]);
  }
  assert.ok(api.messages.every((m) => m.from === "Acme" && m.text === "Hello"));
});

Deno.test("runSendJob() measures no rate for a run within its burst, and never more than the configured rate", async () => {
  // One message answered in 11 ms: counting it over its latency would say 90.9/s.
  for (const burst of [1, 3]) {
    const clock = new FakeClock();
    const api = new FakeApi(new Log(clock), undefined, 11);
    const limiter = new TokenBucket({ ratePerSecond: 5, burst, clock });
    const result = await run(clock, recipients(burst), api, { limiter });
    assert.equal(result.accepted, burst);
    // The first goes alone (a credentials check); the rest of the burst after its answer.
    assert.equal(result.elapsedMs, burst === 1 ? 11 : 22);
    assert.equal(result.requestRatePerSecond, undefined, `burst ${burst}`);
    assert.equal(result.achievedRatePerSecond, undefined, `burst ${burst}`);
  }
  // Short runs just past the burst, with throttled tries among them: a burst of 3 at
  // 5/s sends 3 at once and then one every 200 ms.
  for (const n of [2, 4, 5, 9]) {
    for (const burst of [1, 3]) {
      const clock = new FakeClock();
      const api = new FakeApi(
        new Log(clock),
        (to, attempt) => to.endsWith("1") && attempt === 1 ? throttled() : accepted(to, attempt),
        11,
      );
      const limiter = new TokenBucket({ ratePerSecond: 5, burst, clock });
      const result = await run(clock, recipients(n), api, { limiter });
      const what = `${n} recipients, burst ${burst}: ${JSON.stringify(result)}`;
      assert.equal(result.accepted, n, what);
      if (result.attempts > burst) {
        assert.ok(result.requestRatePerSecond! <= 5, what);
        assert.ok(result.requestRatePerSecond! > 0, what);
      } else {
        assert.equal(result.requestRatePerSecond, undefined, what);
      }
      if (n > burst) {
        assert.ok(result.achievedRatePerSecond! <= result.requestRatePerSecond!, what);
        assert.ok(result.achievedRatePerSecond! > 0, what);
      } else {
        assert.equal(result.achievedRatePerSecond, undefined, what);
      }
    }
  }
});

Deno.test("runSendJob() keeps at most `concurrency` requests in flight", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log, undefined, 1_000);
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const result = await run(clock, recipients(40), api, { limiter, concurrency: 4 });
  assert.equal(api.maxInFlight, 4);
  assert.equal(result.accepted, 40);
  // The first request goes alone (answered at 1000); then 4 at a time, one
  // second each, started 50 ms apart: 39 more in 10 rounds.
  assert.equal(result.elapsedMs, 1_000 + 9 * 1_000 + 2 * 50 + 1_000);
  assertBalanced(result);
});

Deno.test("runSendJob() sends the first request alone, so bad credentials cost one request", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log, () => unauthorized);
  const limiter = new TokenBucket({ ratePerSecond: 1000, burst: 1000, clock });
  const result = await run(clock, recipients(50), api, { limiter, concurrency: 16 });

  assert.equal(log.count("call"), 1);
  assert.equal(result.stoppedBy, "auth");
  assert.match(result.stopReason ?? "", /^401 Unauthorized/);
  assert.equal(result.attempts, 1);
  assert.equal(result.pending, 50);
  assert.equal(result.failed, 0);
  assert.equal(result.uncertain, 0);
  assert.equal(result.total, 50);
  assert.equal(log.count("failed"), 0);
  // The one request is released: definitely not accepted, safe to send later.
  const first = recipients(1)[0]!.to;
  assert.deepEqual(log.typesOf(first), ["sending", "durable", "call", "answer", "released"]);
  assertBalanced(result);
});

// ---------------------------------------------------------------------------
// Server answers.

Deno.test("runSendJob() stops the run on 402 and leaves the rest pending", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(10);
  const broke = list[3]!.to;
  const api = new FakeApi(log, (to, n) => to === broke ? outOfCredit : accepted(to, n));
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 1 });

  assert.equal(result.stoppedBy, "payment");
  assert.match(result.stopReason ?? "", /^402 Low balance/);
  assert.equal(log.count("call"), 4);
  assert.equal(result.accepted, 3);
  assert.equal(result.pending, 7);
  assert.equal(result.failed, 0);
  // The 402 at 300 ms is the last answer.
  assert.equal(result.elapsedMs, 300);
  assert.deepEqual(log.typesOf(broke, "released", "failed", "uncertain"), ["released"]);
  assertBalanced(result);
});

Deno.test("runSendJob() stops after one 422 about the request (from), everyone pending", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(10);
  const badSender: SendOutcome = {
    kind: "rejected",
    status: 422,
    title: "Invalid params",
    detail: "The value of one or more parameters is invalid.",
    invalidParameters: [{ name: "from", reason: "is not a sender of this account" }],
  };
  const api = new FakeApi(log, () => badSender);
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 1 });

  assert.equal(result.stoppedBy, "request");
  assert.match(
    result.stopReason ?? "",
    /^422 Invalid params.*\(from: is not a sender of this account\)/,
  );
  assert.equal(log.count("call"), 1);
  assert.equal(result.failed, 0);
  assert.equal(result.pending, 10);
  assert.deepEqual(log.typesOf(list[0]!.to, "released", "failed"), ["released"]);
  assertBalanced(result);
});

Deno.test("runSendJob() records a 422 about the recipient (to) as that one's failure and goes on", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(4);
  const api = new FakeApi(log, (to, n) => to === list[1]!.to ? invalidNumber : accepted(to, n));
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 1 });
  assert.equal(result.stoppedBy, undefined);
  assert.equal(result.failed, 1);
  assert.equal(result.accepted, 3);
  assertBalanced(result);
});

Deno.test("runSendJob() puts a client_ref on every message: the recipient's own, else TAG and number", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list: Recipient[] = [{ line: 1, to: "14155550100", clientRef: "order-7" }, {
    line: 2,
    to: "14155550101",
  }];
  const api = new FakeApi(log, (to, n) => accepted(to, n));
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const result = await run(clock, list, api, {
    limiter,
    concurrency: 1,
    clientRefTag: "abcdefghijkl",
  });
  assert.equal(result.accepted, 2);
  assert.deepEqual(api.messages.map((m) => m.clientRef), [
    "order-7",
    "pl1-abcdefghijkl-14155550101",
  ]);
});

Deno.test("runSendJob() stops on an unexpected answer (a wrong endpoint) instead of failing everyone", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(10);
  const notFound: SendOutcome = { kind: "unexpected", status: 404, title: "Not Found", detail: "" };
  const api = new FakeApi(log, () => notFound);
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 16 });

  assert.equal(result.stoppedBy, "unexpected");
  assert.match(result.stopReason ?? "", /^404 Not Found/);
  // The first request goes alone: one request to learn the endpoint is wrong.
  assert.equal(log.count("call"), 1);
  assert.equal(result.failed, 0);
  assert.equal(result.pending, 10);
  assert.deepEqual(log.typesOf(list[0]!.to, "released", "failed", "uncertain"), ["released"]);
  assertBalanced(result);
});

Deno.test("runSendJob() records a 422 as failed with the invalid parameter and carries on", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(5);
  const bad = list[1]!.to;
  const api = new FakeApi(log, (to, n) => to === bad ? invalidNumber : accepted(to, n));
  const seen: SendCounts[] = [];
  const result = await run(clock, list, api, { onProgress: (counts) => seen.push({ ...counts }) });

  assert.equal(result.accepted, 4);
  assert.equal(result.failed, 1);
  assert.equal(api.calls(bad), 1);
  const reason = log.of(bad, "failed")[0]?.detail ?? "";
  assert.match(reason, /^422 Invalid params/);
  assert.match(reason, /to: Not a valid phone number/);
  assert.deepEqual(result.failedByReason, { [reason]: 1 });
  assert.equal(result.stoppedBy, undefined);
  assertBalanced(result);
  // The last progress report holds the final counts.
  const {
    failedByReason: _,
    pending: __,
    elapsedMs: ___,
    requestRatePerSecond: ____,
    achievedRatePerSecond: _____,
    ...final
  } = result;
  assert.deepEqual(seen.at(-1), final);
});

Deno.test("runSendJob() records a 500 as uncertain and does not retry it", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(3);
  const doubtful = list[0]!.to;
  const api = new FakeApi(log, (to, n) => to === doubtful ? serverError : accepted(to, n));
  const result = await run(clock, list, api);

  assert.equal(api.calls(doubtful), 1);
  assert.equal(result.uncertain, 1);
  assert.equal(result.accepted, 2);
  assert.deepEqual(log.of(doubtful, "uncertain").map((e) => e.detail), ["server error 500"]);
  assert.deepEqual(log.typesOf(doubtful, "sending", "released", "uncertain"), [
    "sending",
    "uncertain",
  ]);
  assertBalanced(result);
});

Deno.test("runSendJob() retries a 500 with retryUncertain and records the acceptance", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log, (to, n) => n === 1 ? serverError : accepted(to, n));
  const result = await run(clock, recipients(2), api, { retryUncertain: true });

  assert.equal(result.accepted, 2);
  assert.equal(result.uncertain, 0);
  assert.equal(result.attempts, 4);
  for (const { to } of recipients(2)) {
    // No `released` between the tries: the first one may have been accepted.
    assert.deepEqual(log.typesOf(to, "sending", "released", "accepted", "uncertain"), [
      "sending",
      "sending",
      "accepted",
    ]);
    assert.deepEqual(log.of(to, "accepted").map((e) => e.detail), [`uuid-${to}-2`]);
  }
  assertBalanced(result);
});

Deno.test("runSendJob() keeps a retried uncertain message uncertain when later tries are refused", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, (_to, n) => n === 1 ? serverError : throttled());
  const result = await run(clock, [only!], api, { retryUncertain: true, maxTries: 3 });

  assert.equal(api.calls(only!.to), 3);
  assert.equal(result.failed, 0, "the first try may have been accepted: not a failure");
  assert.equal(result.uncertain, 1);
  // Never `released`: a crash between tries must replay as uncertain, not pending.
  assert.deepEqual(log.typesOf(only!.to, "sending", "released", "failed", "uncertain"), [
    "sending",
    "sending",
    "sending",
    "uncertain",
  ]);
  assert.match(log.of(only!.to, "uncertain")[0]?.detail ?? "", /server error 500/);
  assertBalanced(result);
});

Deno.test("runSendJob() records a doubtful message uncertain, not pending, when the run stops before its retry", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, () => serverError);
  const stop = new AbortController();
  clock.sleep(500).then(() => stop.abort(new Error("interrupted")));
  const result = await run(clock, [only!], api, {
    retryUncertain: true,
    signal: stop.signal,
    backoff: { ...constantNoJitter, baseMs: 1_000 },
  });
  assert.equal(api.calls(only!.to), 1);
  assert.deepEqual([result.stoppedBy, result.uncertain, result.pending], ["interrupt", 1, 0]);
  assert.deepEqual(log.typesOf(only!.to, "sending", "released", "uncertain"), [
    "sending",
    "uncertain",
  ]);
});

Deno.test("runSendJob() retries a request that was not sent, releasing each try", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, (to, n) => n < 3 ? refused : accepted(to, n));
  const result = await run(clock, [only!], api, {
    backoff: { strategy: "exponential", jitter: "none", baseMs: 100 },
  });

  assert.equal(result.accepted, 1);
  assert.equal(result.attempts, 3);
  assert.deepEqual(log.of(only!.to, "call").map((e) => e.atMs), [0, 100, 300]);
  assert.deepEqual(log.typesOf(only!.to, "sending", "released", "accepted"), [
    "sending",
    "released",
    "sending",
    "released",
    "sending",
    "accepted",
  ]);
  assert.equal(log.of(only!.to, "released")[0]?.detail, "Connection refused (os error 111)");
  assertBalanced(result);
});

// ---------------------------------------------------------------------------
// Throttling.

Deno.test("runSendJob() pauses a limiter that cannot learn after a 429: the hint, else the backoff (at least one interval)", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(3);
  const [a, b, c] = list.map((r) => r.to);
  const api = new FakeApi(log, (to, n) => {
    if (to === a && n === 1) return throttled();
    if (to === b && n === 1) return throttled(3_000);
    if (to === c && n === 1) return unavailable(700);
    return accepted(to, n);
  });
  const limiter = new RecordingLimiter(clock, 20, { learns: false });
  // A backoff far longer than any hint: a hinted retry must not use it.
  const result = await run(clock, list, api, {
    limiter,
    concurrency: 1,
    backoff: { ...constantNoJitter, baseMs: 10_000 },
    // The limiter's pauses alone (departure pacing has its own test).
    paceDepartures: false,
  });

  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 10_000 }, { atMs: 10_000, ms: 3_000 }]);
  assert.deepEqual(log.of(a!, "call").map((e) => e.atMs), [0, 10_000]);
  assert.deepEqual(log.of(b!, "call").map((e) => e.atMs), [10_000, 13_000]);
  assert.deepEqual(log.of(c!, "call").map((e) => e.atMs), [13_000, 13_700]);
  assert.equal(result.throttled, 2);
  assert.equal(result.attempts, 6);
  assert.equal(result.accepted, 3);
  for (const to of [a!, b!, c!]) {
    assert.deepEqual(log.typesOf(to, "sending", "released", "accepted"), [
      "sending",
      "released",
      "sending",
      "accepted",
    ]);
  }
  assert.equal(log.of(a!, "released")[0]?.detail, "429 Rate Limit Hit");
  assertBalanced(result);
});

Deno.test("runSendJob() pauses at least one token interval after a 429, even when the backoff is shorter", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, (to, n) => n === 1 ? throttled() : accepted(to, n));
  const limiter = new RecordingLimiter(clock, 20, { learns: false });
  await run(clock, [only!], api, {
    limiter,
    backoff: { ...constantNoJitter, baseMs: 10 },
  });
  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 50 }]);
  assert.deepEqual(log.of(only!.to, "call").map((e) => e.atMs), [0, 50]);
});

Deno.test("runSendJob() holds a TokenBucket for the pause: no send before the hint runs out", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(4);
  const api = new FakeApi(
    log,
    (to, n) => to === list[1]!.to && n === 1 ? throttled(2_000) : accepted(to, n),
  );
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 4 });

  // 0 and 50: first two; the 429 at 50 pauses the bucket until 2050, and the bucket
  // stands still meanwhile, so the token owed for the send at 50 comes due at 2100.
  const calls = log.events.filter((e) => e.type === "call").map((e) => [e.to, e.atMs]);
  assert.deepEqual(calls, [
    [list[0]!.to, 0],
    [list[1]!.to, 50],
    [list[2]!.to, 2_100],
    [list[3]!.to, 2_150],
    [list[1]!.to, 2_200],
  ]);
  assert.equal(result.accepted, 4);
  assertBalanced(result);
});

Deno.test("runSendJob() tells a learning limiter every answer, and pauses it only for a server's hint", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(2);
  const [a, b] = list.map((r) => r.to);
  const api = new FakeApi(log, (to, n) => {
    if (to === a && n === 1) return throttled();
    if (to === b && n === 1) return throttled(3_000);
    return accepted(to, n);
  });
  const limiter = new RecordingLimiter(clock, 20);
  const result = await run(clock, list, api, {
    limiter,
    concurrency: 1,
    backoff: { ...constantNoJitter, baseMs: 10_000 },
    paceDepartures: false,
  });
  // No hint: the limiter slowed itself; the message queues again at once, no backoff.
  assert.deepEqual(log.of(a!, "call").map((e) => e.atMs), [0, 0]);
  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 3_000 }]);
  assert.deepEqual(log.of(b!, "call").map((e) => e.atMs), [0, 3_000]);
  assert.deepEqual(limiter.observed, ["throttled", "accepted", "throttled", "accepted"]);
  assert.equal(result.accepted, 2);
});

Deno.test("runSendJob() paces departures at its limiter's rate: a TokenBucket of 50/s sends 101 messages in 2 s", async () => {
  // Regression: the job once paced departures with options of its own (1/s by
  // default), so this took 100 s of virtual time.
  const clock = new FakeClock();
  const log = new Log(clock);
  const limiter = new TokenBucket({ ratePerSecond: 50, clock });
  const result = await run(clock, recipients(101), new FakeApi(log), { limiter });
  assert.equal(result.accepted, 101);
  const times = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
  assert.equal(times.at(-1), 2_000);
});

Deno.test("runSendJob() departures follow a rate the limiter learns", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  // 20/s given, but the server refuses every 4th request: the limiter learns
  // a lower rate, and the departures must not keep pacing at 20/s.
  const server = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const api = new FakeApi(log, (to, n) => server.tryTake() ? accepted(to, n) : throttled(), 20);
  const limiter = new TokenBucket({ ratePerSecond: 20, clock });
  const result = await run(clock, recipients(60), api, { limiter, concurrency: 4 });
  assert.equal(result.accepted, 60);
  assert.ok(limiter.ratePerSecond < 12, `learned ${limiter.ratePerSecond}/s`);
  assert.ok(result.throttled <= 20, `${result.throttled} × 429`);
});

Deno.test("runSendJob() against a strict server: each number accepted once, never called after", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  // The server allows 10/s; the job starts at 20/s and learns it.
  const server = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const api = new FakeApi(log, (to, n) => server.tryTake() ? accepted(to, n) : throttled(), 20);
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const random = createRandom(12345);
  const list = recipients(30);
  const result = await run(clock, list, api, { limiter, concurrency: 4, random });

  assert.equal(result.accepted, 30);
  assert.ok(result.throttled > 0);
  assert.equal(result.attempts, 30 + result.throttled);
  assert.equal(log.count("call"), result.attempts);
  assert.ok(limiter.ratePerSecond <= 10.5, `${limiter.ratePerSecond}`);
  for (const { to } of list) {
    const answers = log.of(to, "answer").map((e) => e.detail);
    assert.equal(answers.at(-1), "accepted");
    assert.ok(answers.slice(0, -1).every((kind) => kind === "throttled"), `${to}: ${answers}`);
    const records = log.typesOf(to, "sending", "released", "accepted");
    const expected = answers.flatMap((kind) =>
      kind === "accepted" ? ["sending", "accepted"] : ["sending", "released"]
    );
    assert.deepEqual(records, expected);
  }
  assertSendingBeforeEveryCall(log);
  assertBalanced(result);
});

Deno.test("runSendJob() gives up after maxTries with a 'gave up' reason", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, () => throttled());
  const result = await run(clock, [only!], api, {
    maxTries: 3,
    backoff: { ...constantNoJitter, baseMs: 100 },
  });

  assert.equal(api.calls(only!.to), 3);
  assert.equal(result.failed, 1);
  assert.equal(result.throttled, 3);
  assert.deepEqual(result.failedByReason, { "gave up: 429 Rate Limit Hit": 1 });
  assert.deepEqual(log.typesOf(only!.to, "sending", "released", "failed"), [
    "sending",
    "released",
    "sending",
    "released",
    "sending",
    "released",
    "failed",
  ]);
  assertBalanced(result);
});

Deno.test("runSendJob() gives up when the next wait would pass maxTimeMs, not at the deadline", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [only] = recipients(1);
  const api = new FakeApi(log, () => throttled(1_000));
  const result = await run(clock, [only!], api, { maxTimeMs: 2_500 });

  assert.deepEqual(log.of(only!.to, "call").map((e) => e.atMs), [0, 1_000, 2_000]);
  assert.equal(result.failed, 1);
  assert.deepEqual(result.failedByReason, { "gave up: 429 Rate Limit Hit": 1 });
  assert.equal(result.elapsedMs, 2_000);
  assertBalanced(result);
});

Deno.test("runSendJob() counts maxTimeMs from the first send, not from the queue", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(3);
  const last = list[2]!.to;
  const api = new FakeApi(
    log,
    (to, n) => to === last && n === 1 ? throttled(500) : accepted(to, n),
  );
  // 1/s, three workers: the third message waits 2 s in the bucket's queue first.
  const limiter = new TokenBucket({ ratePerSecond: 1, burst: 1, clock });
  const result = await run(clock, list, api, {
    limiter,
    concurrency: 3,
    maxTimeMs: 1_800,
  });
  assert.equal(result.accepted, 3, JSON.stringify(result.failedByReason));
  assert.deepEqual(log.of(last, "call").map((e) => e.atMs), [2_000, 3_500]);
});

// ---------------------------------------------------------------------------
// Earlier runs, interrupts and failures.

Deno.test("runSendJob() skips numbers an earlier run decided, and sends pending ones", async () => {
  const list = recipients(5);
  const [a, b, c, d] = list.map((r) => r.to);
  const previous = new Map<string, JournalState>([
    [a!, { state: "accepted", messageUuid: "uuid-a", attempts: 1 }],
    [b!, { state: "failed", reason: "422 Invalid params", attempts: 1 }],
    [c!, { state: "uncertain", reason: "server error 500", attempts: 1 }],
    [d!, { state: "pending", reason: "429 Rate Limit Hit", attempts: 2 }],
  ]);
  for (const resendUncertain of [false, true]) {
    const clock = new FakeClock();
    const log = new Log(clock);
    const api = new FakeApi(log);
    const result = await run(clock, list, api, { previous, resendUncertain });
    const sent = api.messages.map((m) => m.to);
    assert.deepEqual(
      sent,
      resendUncertain ? [c, d, list[4]!.to] : [d, list[4]!.to],
      `resendUncertain: ${resendUncertain}`,
    );
    assert.equal(result.skipped, resendUncertain ? 2 : 3);
    assert.equal(result.accepted, resendUncertain ? 3 : 2);
    assert.equal(result.total, 5);
    assertBalanced(result);
  }
});

Deno.test("runSendJob() resending an earlier uncertain keeps the doubt: 429s end uncertain, never failed or pending", async () => {
  const [only] = recipients(1);
  const previous = new Map<string, JournalState>([
    [only!.to, { state: "uncertain", reason: "server error 500", attempts: 1 }],
  ]);
  // Retries run out on 429s: the earlier try may have been delivered, so not "failed".
  {
    const clock = new FakeClock();
    const log = new Log(clock);
    const api = new FakeApi(log, () => throttled());
    const result = await run(clock, [only!], api, {
      previous,
      resendUncertain: true,
      maxTries: 2,
    });
    assert.equal(result.failed, 0);
    assert.equal(result.uncertain, 1);
    assert.deepEqual(log.typesOf(only!.to, "released", "failed", "uncertain"), ["uncertain"]);
  }
  // Stopped after a 429: no `released`, so a rerun without the flag does not resend it.
  {
    const clock = new FakeClock();
    const log = new Log(clock);
    const stop = new AbortController();
    const api = new FakeApi(log, () => {
      queueMicrotask(() => stop.abort());
      return throttled();
    });
    const result = await run(clock, [only!], api, {
      previous,
      resendUncertain: true,
      signal: stop.signal,
    });
    assert.equal(result.pending, 0);
    assert.equal(result.uncertain, 1);
    assert.deepEqual(log.typesOf(only!.to, "released", "failed", "uncertain"), ["uncertain"]);
  }
});

Deno.test("runSendJob() with a journal file: a rerun sends only what is still pending", async () => {
  const directory = await Deno.makeTempDir({ prefix: "send_job_test_" });
  try {
    const path = `${directory}/recipients.csv.journal.jsonl`;
    const header = { from: "Acme", textHash: await hashMessageText("Hello") };
    const list = recipients(6);
    const [a, b, c, d, e, f] = list.map((r) => r.to);

    // First run: accepted, 422, 500, then 402 stops the run at d.
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const first = await Journal.open(path, header, { clock });
    const log = new Log(clock);
    const script = (to: string, n: number): Step =>
      to === b ? invalidNumber : to === c ? serverError : to === d ? outOfCredit : accepted(to, n);
    const one = await run(clock, list, new FakeApi(log, script), {
      journal: first,
      concurrency: 1,
    });
    await first.close();
    assert.equal(one.stoppedBy, "payment");
    assert.deepEqual([one.accepted, one.failed, one.uncertain, one.pending], [1, 1, 1, 3]);

    // Second run: the replay skips a, b and c; d, e and f go out.
    const second = await Journal.open(path, header, { clock });
    assert.deepEqual(
      [a, b, c, d].map((to) => second.previous.get(to!)?.state),
      ["accepted", "failed", "uncertain", "pending"],
    );
    const log2 = new Log(clock);
    const api2 = new FakeApi(log2);
    const two = await run(clock, list, api2, {
      journal: second,
      previous: second.previous,
      concurrency: 2,
    });
    await second.close();
    assert.deepEqual(api2.messages.map((m) => m.to).sort(), [d, e, f]);
    assert.deepEqual([two.skipped, two.accepted, two.pending], [3, 3, 0]);

    // What the file says now.
    const third = await Journal.open(path, header, { clock });
    assert.deepEqual(
      list.map(({ to }) => third.previous.get(to)?.state),
      ["accepted", "failed", "uncertain", "accepted", "accepted", "accepted"],
    );
    assert.equal(third.previous.get(d!)?.attempts, 2);
    await third.close();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

/**
 * The interrupt setup: 20 numbers, 4 workers, a 10/s bucket, 1 s per request.
 * Sends go at 0 (alone), then 1000, 1100, 1200, 1300, then 2000, 2100 … as
 * answers free the workers.
 */
function interruptSetup(): {
  clock: FakeClock;
  log: Log;
  api: FakeApi;
  overrides: { limiter: Limiter; ratePerSecond: number; concurrency: number };
} {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log, undefined, 1_000);
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  return { clock, log, api, overrides: { limiter, ratePerSecond: 10, concurrency: 4 } };
}

Deno.test("runSendJob() on interrupt: no new sends, in-flight requests finish and are recorded", async () => {
  const { clock, log, api, overrides } = interruptSetup();
  const stop = new AbortController();
  clock.sleep(2_150).then(() => stop.abort(new Error("interrupted")));
  const result = await run(clock, recipients(20), api, { ...overrides, signal: stop.signal });

  const callTimes = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
  assert.deepEqual(callTimes, [0, 1_000, 1_100, 1_200, 1_300, 2_000, 2_100]);
  assert.equal(result.stoppedBy, "interrupt");
  assert.equal(result.accepted, 7, "the four in flight at 2150 finished");
  assert.equal(result.pending, 13);
  assert.equal(result.uncertain, 0);
  assert.equal(result.elapsedMs, 3_100);
  assert.equal(log.count("accepted"), 7);
  assertBalanced(result);
});

Deno.test("runSendJob() cuts in-flight requests off after graceMs and records them uncertain", async () => {
  const { clock, log, api, overrides } = interruptSetup();
  const stop = new AbortController();
  clock.sleep(2_150).then(() => stop.abort(new Error("interrupted")));
  const result = await run(clock, recipients(20), api, {
    ...overrides,
    signal: stop.signal,
    graceMs: 500,
  });

  assert.equal(result.stoppedBy, "interrupt");
  assert.equal(result.accepted, 5, "answered at 2200 and 2300, within the grace");
  assert.equal(result.uncertain, 2, "sent at 2000 and 2100, cut off at 2650");
  assert.equal(result.pending, 13);
  assert.equal(result.elapsedMs, 2_650);
  const cut = log.events.filter((e) => e.type === "uncertain");
  assert.deepEqual(cut.map((e) => e.atMs), [2_650, 2_650]);
  assert.ok(cut.every((e) => e.detail === "aborted while the request was in flight"));
  assertBalanced(result);
});

Deno.test("runSendJob() cuts in-flight requests off at once on hardSignal", async () => {
  for (const withSoftSignal of [true, false]) {
    const { clock, log, api, overrides } = interruptSetup();
    const stop = new AbortController();
    const hard = new AbortController();
    if (withSoftSignal) clock.sleep(2_150).then(() => stop.abort(new Error("interrupted")));
    clock.sleep(2_160).then(() => hard.abort(new Error("interrupted again")));
    const result = await run(clock, recipients(20), api, {
      ...overrides,
      signal: stop.signal,
      hardSignal: hard.signal,
    });

    const what = `withSoftSignal: ${withSoftSignal}`;
    assert.equal(log.count("call"), 7, what);
    assert.equal(result.stoppedBy, "interrupt", what);
    assert.equal(result.accepted, 3, what);
    assert.equal(result.uncertain, 4, what);
    assert.equal(result.pending, 13, what);
    assert.equal(result.elapsedMs, 2_160, what);
    assertBalanced(result);
  }
});

Deno.test("runSendJob() with a signal aborted before the start sends nothing", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log);
  const result = await run(clock, recipients(5), api, { signal: AbortSignal.abort() });
  assert.equal(log.events.length, 0);
  assert.deepEqual([result.stoppedBy, result.pending, result.total], ["interrupt", 5, 5]);
  assert.equal(result.elapsedMs, 0);
  assert.equal(result.requestRatePerSecond, undefined);
  assert.equal(result.achievedRatePerSecond, undefined);
});

Deno.test("runSendJob() does not send once stopped while the sending record was being written", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const api = new FakeApi(log);
  const stop = new AbortController();
  clock.sleep(3).then(() => stop.abort(new Error("interrupted")));
  const journal = new RecordingJournal(log, { sendingDelayMs: 5 });
  const [only] = recipients(1);
  const result = await run(clock, [only!], api, { journal, signal: stop.signal });
  assert.equal(log.count("call"), 0);
  assert.deepEqual(log.typesOf(only!.to), ["sending", "durable", "released"]);
  assert.deepEqual([result.stoppedBy, result.pending, result.attempts], ["interrupt", 1, 0]);
});

Deno.test("runSendJob() releases a message whose sendSms threw before it left, and leaves it pending", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const stop = new AbortController();
  const list = recipients(4);
  const api = new FakeApi(log, (to, n) => {
    if (to !== list[1]!.to) return accepted(to, n);
    stop.abort(new Error("interrupted"));
    return { throws: new DOMException("The signal has been aborted", "AbortError") };
  });
  const result = await run(clock, list, api, { concurrency: 1, signal: stop.signal });

  assert.deepEqual(log.typesOf(list[1]!.to, "sending", "released", "failed", "uncertain"), [
    "sending",
    "released",
  ]);
  assert.match(log.of(list[1]!.to, "released")[0]?.detail ?? "", /^not sent: /);
  assert.deepEqual([result.stoppedBy, result.accepted, result.pending], ["interrupt", 1, 3]);
  assertBalanced(result);
});

Deno.test("runSendJob() records the sending record, durable, before every request leaves", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const journal = new RecordingJournal(log, { sendingDelayMs: 7 });
  const api = new FakeApi(log, (to, n) => {
    const kind = Number(to.slice(-1)) % 4;
    if (kind === 1 && n < 3) return throttled();
    if (kind === 2 && n < 2) return refused;
    if (kind === 3 && n < 2) return { outcome: serverError, latencyMs: 30 };
    return { outcome: accepted(to, n), latencyMs: 15 };
  });
  const limiter = new TokenBucket({ ratePerSecond: 50, burst: 2, clock });
  const result = await run(clock, recipients(24), api, {
    journal,
    limiter,
    concurrency: 5,
    retryUncertain: true,
  });
  assert.equal(result.accepted, 24);
  assertSendingBeforeEveryCall(log);
  // Between two requests for one number, a not-accepted answer was released first.
  for (const { to } of recipients(24)) {
    const events = log.of(to, "call", "answer", "released", "sending");
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.type !== "answer" || events[i]!.detail === "accepted") continue;
      const next = events.slice(i + 1).map((e) => e.type);
      if (events[i]!.detail === "uncertain") {
        assert.deepEqual(next.slice(0, 2), ["sending", "call"], `${to}: ${next}`);
      } else {
        assert.deepEqual(next.slice(0, 3), ["released", "sending", "call"], `${to}: ${next}`);
      }
    }
  }
});

Deno.test("runSendJob() stops admitting when the journal fails, lets in-flight finish, then rejects", async () => {
  for (const type of ["sending", "accepted"] as const) {
    const { clock, log, api, overrides } = interruptSetup();
    const list = recipients(20);
    const error = new Error(`disk full (${type})`);
    // The 5th number's `sending` fails at 2000; or the 2nd number's `accepted` at 2000.
    const failOn = { type, to: list[type === "sending" ? 4 : 1]!.to, error };
    const journal = new RecordingJournal(log, { failOn });
    const job = runSendJob(list, {
      sendSms: api.sendSms,
      from: "Acme",
      text: "Hello",
      journal,
      clock,
      ...overrides,
      concurrency: 3,
    });
    await assert.rejects(drive(clock, job), (thrown) => thrown === error);
    assert.equal(clock.now(), 2_200, `${type}: the two requests in flight at 2000 finished first`);
    assert.equal(clock.pendingSleepers, 0, `${type}: nothing is left running`);
    assert.equal(api.inFlight, 0);
    const callTimes = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
    assert.deepEqual(callTimes, [0, 1_000, 1_100, 1_200], type);
    // The in-flight ones were recorded.
    assert.equal(log.count("accepted"), 4, type);
  }
});

Deno.test("runSendJob() reports a journal failure that comes after an interrupt", async () => {
  const { clock, log, overrides } = interruptSetup();
  const list = recipients(20);
  // The request sent at 1200 is answered 429 at 2200, after the interrupt at 2150,
  // and its `released` record cannot be written.
  const api = new FakeApi(
    log,
    (to, n) => to === list[3]!.to ? throttled() : accepted(to, n),
    1_000,
  );
  const error = new Error("disk full");
  const journal = new RecordingJournal(log, {
    failOn: { type: "released", to: list[3]!.to, error },
  });
  const stop = new AbortController();
  clock.sleep(2_150).then(() => stop.abort(new Error("interrupted")));
  const job = runSendJob(list, {
    sendSms: api.sendSms,
    from: "Acme",
    text: "Hello",
    journal,
    clock,
    signal: stop.signal,
    ...overrides,
  });
  await assert.rejects(drive(clock, job), (thrown) => thrown === error);
  assert.equal(clock.now(), 3_100, "the requests still in flight finished first");
  assert.equal(log.count("accepted"), 6);
});

Deno.test("runSendJob() rejects with a failing recipient stream after in-flight requests finish", async () => {
  const { clock, log, api, overrides } = interruptSetup();
  const error = new Error("read error");
  async function* list(): AsyncGenerator<Recipient> {
    yield* recipients(3);
    // Asked for the 4th at 1000; the read fails at 2050, while the 3rd is in flight.
    await clock.sleep(1_050);
    throw error;
  }
  const job = runSendJob(list(), {
    sendSms: api.sendSms,
    from: "Acme",
    text: "Hello",
    journal: new RecordingJournal(log),
    clock,
    ...overrides,
  });
  await assert.rejects(drive(clock, job), (thrown) => thrown === error);
  assert.equal(clock.now(), 2_100, "the request sent at 1100 was answered first");
  assert.equal(clock.pendingSleepers, 0);
  assert.deepEqual(log.events.filter((e) => e.type === "accepted").map((e) => e.atMs), [
    1_000,
    2_000,
    2_100,
  ]);
});

Deno.test("runSendJob() rejects when sendSms throws while the run goes on", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const error = new Deno.errors.NotCapable('Requires net access to "api.nexmo.com:443"');
  const api = new FakeApi(log, () => ({ throws: error }));
  const [only] = recipients(1);
  await assert.rejects(run(clock, [only!, ...recipients(3).slice(1)], api), (e) => e === error);
  assert.equal(log.count("call"), 1);
  assert.deepEqual(log.typesOf(only!.to, "sending", "released"), ["sending", "released"]);
});

Deno.test("runSendJob() refuses bad options with a RangeError naming them", async () => {
  const clock = new FakeClock();
  const api = new FakeApi(new Log(clock));
  const cases: Array<[Overrides, RegExp]> = [
    [{ concurrency: 0 }, /'concurrency' must be at least 1, current value is 0/],
    [{ maxTries: 0 }, /'maxTries' must be a positive integer or Infinity, current value is 0/],
    [{ maxTimeMs: -5 }, /'maxTimeMs' must be a number >= 0, current value is -5/],
    [{ graceMs: NaN }, /'graceMs' must be a number >= 0, current value is NaN/],
  ];
  for (const [overrides, pattern] of cases) {
    await assert.rejects(run(clock, recipients(1), api, overrides), (error: unknown) => {
      assert.ok(error instanceof RangeError, String(error));
      assert.match(error.message, /^Cannot run send job: /);
      assert.match(error.message, pattern);
      return true;
    });
  }
  assert.equal(api.messages.length, 0);
});

// ---------------------------------------------------------------------------
// Hooks for a shared work queue: beforeSend, onSettled, doubts, a source that stops.

/** onSettled that writes `settled` events (detail: the state and its reason or uuid). */
function recordSettled(log: Log, settled: Map<string, SendSettlement[]>) {
  return (recipient: SendRecipient, settlement: SendSettlement): Promise<void> => {
    const detail = settlement.state === "accepted"
      ? settlement.messageUuid
      : settlement.state === "skipped"
      ? settlement.previous.state
      : settlement.state === "pending"
      ? ""
      : settlement.reason;
    log.add("settled", recipient.to, `${settlement.state} ${detail}`.trim());
    settled.set(recipient.to, [...(settled.get(recipient.to) ?? []), settlement]);
    return Promise.resolve();
  };
}

Deno.test("runSendJob() calls onSettled once per recipient, after its journal record", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list: SendRecipient[] = recipients(6);
  const [ok, bad, doubtful, known, inDoubt, retried] = list.map((r) => r.to);
  list[4] = { ...list[4]!, doubt: "worker w1 stopped while sending it" };
  const api = new FakeApi(
    log,
    (to, attempt) =>
      to === bad
        ? invalidNumber
        : to === doubtful
        ? serverError
        : to === retried && attempt === 1
        ? throttled()
        : accepted(to, attempt),
  );
  const settled = new Map<string, SendSettlement[]>();
  const previous = new Map<string, JournalState>([
    [known!, { state: "accepted", messageUuid: "uuid-old", attempts: 1 }],
  ]);
  const result = await run(clock, list, api, {
    previous,
    backoff: constantNoJitter,
    onSettled: recordSettled(log, settled),
  });

  assert.deepEqual(
    list.map((r) => settled.get(r.to)?.map((s) => s.state)),
    [["accepted"], ["failed"], ["uncertain"], ["skipped"], ["uncertain"], ["accepted"]],
  );
  assert.deepEqual(settled.get(ok!), [{ state: "accepted", messageUuid: `uuid-${ok}-1` }]);
  assert.deepEqual(settled.get(known!), [{ state: "skipped", previous: previous.get(known!) }]);
  assert.deepEqual(settled.get(retried!), [{
    state: "accepted",
    messageUuid: `uuid-${retried}-2`,
  }]);
  // A recipient in doubt is recorded uncertain with its reason, and never sent.
  assert.deepEqual(log.typesOf(inDoubt!), ["uncertain", "settled"]);
  assert.equal(log.of(inDoubt!, "uncertain")[0]!.detail, "worker w1 stopped while sending it");
  assert.equal(api.calls(inDoubt!), 0);
  // The hook comes after the journal's decision, and only then.
  for (const to of [ok, bad, doubtful, retried]) {
    const types = log.typesOf(to!, "accepted", "failed", "uncertain", "released", "settled");
    assert.equal(types.at(-1), "settled", to);
    assert.equal(types.filter((t) => t === "settled").length, 1, to);
  }
  assert.equal(result.uncertain, 2);
  assert.equal(result.skipped, 1);
  assertBalanced(result);
});

Deno.test("runSendJob() sends a recipient in doubt with resendUncertain, unless the journal decided it", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list: SendRecipient[] = recipients(2).map((r) => ({ ...r, doubt: "reclaimed" }));
  const [fresh, decided] = list.map((r) => r.to);
  const api = new FakeApi(log);
  const previous = new Map<string, JournalState>([
    [decided!, { state: "failed", reason: "422", attempts: 1 }],
  ]);
  const result = await run(clock, list, api, { previous, resendUncertain: true });
  assert.deepEqual(api.messages.map((m) => m.to), [fresh]);
  assert.equal(result.accepted, 1);
  assert.equal(result.skipped, 1);
});

Deno.test("runSendJob() awaits beforeSend after the durable sending record, before each request", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(3);
  const api = new FakeApi(
    log,
    (to, attempt) => attempt === 1 ? throttled(100) : accepted(to, attempt),
  );
  await run(clock, list, api, {
    journal: new RecordingJournal(log, { sendingDelayMs: 5 }),
    backoff: constantNoJitter,
    // Exact gaps between the steps (departure pacing has its own test).
    paceDepartures: false,
    beforeSend: async (recipient) => {
      log.add("before", recipient.to);
      await clock.sleep(3);
    },
  });
  for (const { to } of list) {
    assert.deepEqual(log.typesOf(to, "sending", "durable", "before", "call"), [
      "sending",
      "durable",
      "before",
      "call",
      "sending",
      "durable",
      "before",
      "call",
    ]);
    // The request leaves only once the hook has finished (3 ms after it began).
    const [before, call] = [log.of(to, "before")[0]!, log.of(to, "call")[0]!];
    assert.equal(call.atMs - before.atMs, 3);
  }
});

Deno.test("runSendJob() does not send when beforeSend throws: released, run stopped, error rethrown", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(5);
  const api = new FakeApi(log);
  const error = new Error("entry 3-0 was taken over by another worker");
  const settled = new Map<string, SendSettlement[]>();
  await assert.rejects(
    run(clock, list, api, {
      concurrency: 1,
      onSettled: recordSettled(log, settled),
      beforeSend: (recipient) =>
        recipient.to === list[2]!.to ? Promise.reject(error) : Promise.resolve(),
    }),
    (e) => e === error,
  );
  const third = list[2]!.to;
  assert.equal(api.calls(third), 0);
  assert.deepEqual(log.typesOf(third, "sending", "released", "settled"), [
    "sending",
    "released",
    "settled",
  ]);
  assert.deepEqual(settled.get(third), [{ state: "pending" }]);
  assert.deepEqual(api.messages.map((m) => m.to), [list[0]!.to, list[1]!.to]);
});

Deno.test("runSendJob() stops reading a function source when the run stops; what it read stays pending", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(100);
  let read = 0;
  let sawAbort = false;
  async function* queue(admission: AbortSignal): AsyncGenerator<SendRecipient> {
    for (const recipient of list) {
      if (admission.aborted) {
        sawAbort = true;
        return;
      }
      read++;
      await Promise.resolve();
      yield recipient;
    }
  }
  const api = new FakeApi(
    log,
    (to, attempt) => to === list[10]!.to ? outOfCredit : accepted(to, attempt),
    100,
  );
  const settled = new Map<string, SendSettlement[]>();
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const result = await drive(
    clock,
    runSendJob(queue, {
      sendSms: api.sendSms,
      limiter,
      from: "Acme",
      text: "Hello",
      journal: new RecordingJournal(log),
      concurrency: 4,
      clock,
      random: () => 0.5,
      onSettled: recordSettled(log, settled),
    }),
  );
  assert.equal(result.stoppedBy, "payment");
  assert.ok(sawAbort, "the source saw the admission signal abort");
  // Only what the workers had in hand was read, not the other ~85 recipients.
  assert.ok(read < 20, `${read} recipients read`);
  assert.equal(result.total, read);
  assert.equal(settled.size, read);
  for (const [to, settlements] of settled) assert.equal(settlements.length, 1, to);
  const pending = [...settled.values()].filter(([s]) => s!.state === "pending").length;
  assert.equal(pending, result.pending);
  assert.ok(result.pending >= 1);
  assertBalanced(result);
});

Deno.test("runSendJob() re-spaces departures after a slow journal write: no bunching, never over rate + burst", async () => {
  // One `sending` write stalls for 200 ms (a loaded disk) while tokens keep coming at
  // 50/s: without departure pacing the held requests leave together.
  const runWithStall = async (paceDepartures: boolean) => {
    const clock = new FakeClock();
    const log = new Log(clock);
    let stalls = 1;
    const journal = new RecordingJournal(log);
    const slowJournal: SendJournal = {
      sending: async (to) => {
        if (log.count("call") === 10 && stalls-- > 0) await clock.sleep(200);
        await journal.sending(to);
      },
      released: (to, reason) => journal.released(to, reason),
      accepted: (to, uuid) => journal.accepted(to, uuid),
      failed: (to, reason) => journal.failed(to, reason),
      uncertain: (to, reason) => journal.uncertain(to, reason),
    };
    const api = new FakeApi(log);
    const limiter = new TokenBucket({ ratePerSecond: 50, burst: 1, clock });
    const result = await run(clock, recipients(100), api, {
      limiter,
      journal: slowJournal,
      concurrency: 16,
      paceDepartures,
    });
    assert.equal(result.accepted, 100);
    const times = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    return { smallestGap: Math.min(...gaps), busiest: busiestSecond(times) };
  };

  const paced = await runWithStall(true);
  assert.ok(paced.smallestGap >= 20 - 1e-9, `smallest gap ${paced.smallestGap} ms`);
  assert.ok(paced.busiest <= 50 + 1, `busiest second ${paced.busiest}`);
  // The same stall without it: requests bunch (this is what the pacing prevents).
  const unpaced = await runWithStall(false);
  assert.ok(unpaced.smallestGap < 1, `unpaced smallest gap ${unpaced.smallestGap} ms`);
});

Deno.test("runSendJob() paces a client's own retry after a 401 like any other request", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(3);
  // Like the Vonage client: a 401, then one retry with a fresh token, by itself.
  let first = true;
  const sendSms: SendSms = async (message, options) => {
    log.add("call", message.to);
    if (first) {
      first = false;
      await options.beforeRetry?.();
      log.add("call", message.to);
    }
    return accepted(message.to, 1);
  };
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 1, clock });
  const result = await run(clock, list, new FakeApi(log), { sendSms, limiter, concurrency: 4 });

  const times = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
  assert.deepEqual(times, [0, 50, 100, 150]);
  assert.equal(result.attempts, 4, "the client's retry is a request too");
  assert.equal(result.accepted, 3);
});

Deno.test("runSendJob() resumes one interval apart after a 429's pause, even with a burst of 5", async () => {
  // Answers take 2 s, so the bucket (20/s, burst 5) is full again whenever the workers come
  // back for tokens. One 429 (hint 1 s) comes at 3500 while four answers are due at 4000:
  // those four must not leave together at the end of the pause as a burst would let them.
  const clock = new FakeClock();
  const log = new Log(clock);
  const list = recipients(12);
  const hinted = list[3]!.to;
  const api = new FakeApi(
    log,
    (to, n) =>
      to === hinted && n === 1 ? { outcome: throttled(1_000), latencyMs: 1_500 } : accepted(to, n),
    2_000,
  );
  const limiter = new TokenBucket({ ratePerSecond: 20, burst: 5, clock });
  const result = await run(clock, list, api, { limiter, concurrency: 5 });

  assert.equal(result.accepted, 12);
  assert.equal(result.throttled, 1);
  const calls = log.events.filter((e) => e.type === "call").map((e) => e.atMs);
  // Before the 429: the first alone, then five at once (a full bucket: the burst is allowed).
  assert.deepEqual(calls.slice(0, 6), [0, 2_000, 2_000, 2_000, 2_000, 2_000]);
  const after = calls.slice(6);
  assert.equal(after.length, 7);
  // Nothing during the hint (3500 to 4500); then one token at a time.
  assert.equal(after[0], 4_500);
  const gaps = after.slice(1).map((t, i) => t - after[i]!);
  assert.ok(Math.min(...gaps) >= 50 - 1e-9, `gaps after the pause: ${gaps.join(", ")} ms`);
  assertBalanced(result);
});

Deno.test("runSendJob() over a journal file, crashed between `sending` and the answer: what is on disk holds every request that left; the rerun sends none twice", async () => {
  const directory = await Deno.makeTempDir({ prefix: "send_job_test_" });
  // What survives a crash, even of the machine: the bytes written before an fdatasync
  // that completed.
  const syncData = Deno.FsFile.prototype.syncData;
  let durableBytes = 0;
  Deno.FsFile.prototype.syncData = async function (this: Deno.FsFile): Promise<void> {
    const { size } = await this.stat();
    await syncData.call(this);
    durableBytes = Math.max(durableBytes, size);
  };
  try {
    const path = `${directory}/recipients.csv.journal.jsonl`;
    const crashedPath = `${directory}/crashed.journal.jsonl`;
    const header = { from: "Acme", textHash: await hashMessageText("Hello") };
    const list = recipients(12);
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const journal = await Journal.open(path, header, { clock });
    const log = new Log(clock);
    // Answers take 1 s, four workers at 10/s: several requests in flight at a time.
    const api = new FakeApi(log, undefined, 1_000);
    const crash = new AbortController();
    let called: string[] = [];
    let answered: string[] = [];
    const sendSms: SendSms = (message, options) => {
      const answer = api.sendSms(message, options); // logged as a call: it has left
      if (log.count("call") === 6) {
        // The crash: a restarted process finds only what was durable by now.
        Deno.writeFileSync(crashedPath, Deno.readFileSync(path).subarray(0, durableBytes));
        called = log.events.filter((e) => e.type === "call").map((e) => e.to);
        answered = log.events.filter((e) => e.type === "answer").map((e) => e.to);
        crash.abort(new Error("crashed"));
      }
      return answer;
    };
    await run(clock, list, api, {
      sendSms,
      journal,
      limiter: new TokenBucket({ ratePerSecond: 10, burst: 1, clock }),
      concurrency: 4,
      hardSignal: crash.signal,
    });
    await journal.close();
    const inFlight = called.filter((to) => !answered.includes(to));
    assert.equal(called.length, 6);
    // At least the request whose call crashed; how many more depends on how virtual time
    // and the real fsyncs interleave.
    assert.ok(inFlight.includes(called[5]!), `in flight at the crash: ${inFlight.join(", ")}`);

    // The restart: every request that left is known (accepted, or uncertain if its answer
    // was not on disk yet), those in flight are uncertain, and a `sending` whose request
    // had not left yet is uncertain too: the file cannot tell, so it errs on no resend.
    const restarted = await Journal.open(crashedPath, header, { clock });
    const states = restarted.previous;
    for (const to of inFlight) {
      const state = states.get(to)?.state;
      assert.equal(state, "uncertain", `${to} was in flight at the crash, yet ${state} on disk`);
    }
    for (const to of called) {
      const state = states.get(to)?.state ?? "unknown";
      assert.ok(["accepted", "uncertain"].includes(state), `${to} left, yet ${state} on disk`);
    }
    const known = list.map((r) => r.to).filter((to) => states.has(to));
    for (const to of known) {
      if (!called.includes(to)) assert.equal(states.get(to)?.state, "uncertain", to);
    }

    const log2 = new Log(clock);
    const api2 = new FakeApi(log2);
    const rerun = await run(clock, list, api2, {
      journal: restarted,
      previous: states,
      concurrency: 4,
    });
    await restarted.close();
    // Nothing begun before the crash goes again; everything else goes once.
    const unknown = list.map((r) => r.to).filter((to) => !known.includes(to));
    assert.deepEqual(api2.messages.map((m) => m.to).sort(), unknown.sort());
    assert.equal(rerun.skipped, known.length);
    assert.equal(rerun.accepted, unknown.length);
    const final = await Journal.open(crashedPath, header, { clock });
    await final.close();
    for (const { to } of list) {
      const state = final.previous.get(to)?.state;
      assert.ok(state === "accepted" || (state === "uncertain" && known.includes(to)), to);
    }
  } finally {
    Deno.FsFile.prototype.syncData = syncData;
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("runSendJob() takes a limit the server states with a 429 (RateLimit-Policy) as the limiter's rate", async () => {
  const clock = new FakeClock();
  const log = new Log(clock);
  const [first, ...rest] = recipients(4);
  const stated: SendOutcome = {
    kind: "throttled",
    status: 429,
    title: "Rate Limit Hit",
    detail: "",
    limitPerSecond: 5,
  };
  const api = new FakeApi(log, (to, n) => to === first!.to && n === 1 ? stated : accepted(to, n));
  const limiter = new TokenBucket({ ratePerSecond: 50, clock });
  const result = await run(clock, [first!, ...rest], api, { limiter, concurrency: 1 });
  assert.equal(result.accepted, 4);
  // 5/s, less the learner's margin of 1% (never above what the server said).
  assert.ok(limiter.ratePerSecond <= 5 && limiter.ratePerSecond >= 4.9, `${limiter.ratePerSecond}`);
});
