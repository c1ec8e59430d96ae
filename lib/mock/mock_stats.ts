/**
 * What the mock counts: every answer by status, and per second of its life the
 * requests that arrived, were accepted and were throttled. This is what lets a
 * client author check "never faster than allowed" from the server's side.
 *
 * @module
 */

/**
 * Counts for one second of the mock's life, by arrival time.
 *
 * @example Checking "never faster than allowed" from the server's side
 * ```ts
 * import type { MockVonageSecond } from "./mock_stats.ts";
 *
 * // With a limit of R/s and a burst of B, no second may see more than R + B accepted.
 * const tooFast = (seconds: MockVonageSecond[], rate: number, burst: number): MockVonageSecond[] =>
 *   seconds.filter((second) => second.accepted > rate + burst);
 * console.log(tooFast([{ second: 0, arrivals: 3, accepted: 2, throttled: 1 }], 1, 1)); // []
 * ```
 */
export interface MockVonageSecond {
  /** Whole seconds since the mock started, by its clock. */
  second: number;
  /** Requests to `POST /v1/messages` that arrived in this second. */
  arrivals: number;
  /** Of those, messages the mock accepted (answered 202, or accepted and the answer dropped). */
  accepted: number;
  /** Of those, requests answered 429. */
  throttled: number;
}

/**
 * Everything `GET /stats` reports.
 *
 * @example Reading GET /stats
 * ```ts
 * import type { MockVonageStats } from "./mock_stats.ts";
 * import { createMockVonage } from "./mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const mock = await createMockVonage({ publicKey, applicationId: "app", ratePerSecond: 5 });
 * const stats = (await (await mock.app.request("/stats")).json()) as MockVonageStats;
 * console.log(stats.ratePerSecond, stats.arrivals); // 5 0
 * ```
 */
export interface MockVonageStats {
  /** Milliseconds since the mock started, by its clock. */
  uptimeMs: number;
  /** The rate limit in requests per second; `null` when unlimited. */
  ratePerSecond: number | null;
  /** The bucket size; `null` when unlimited. */
  burst: number | null;
  /** The seed of the fault-injection draws: pass it back to reproduce a run. */
  seed: number;
  /** Requests that reached `POST /v1/messages`. */
  arrivals: number;
  /** Messages accepted: in `GET /messages`, whether or not their answer was dropped. */
  accepted: number;
  /** Requests answered 429. */
  throttled: number;
  /**
   * Answers by HTTP status (`"202"`, `"401"`, `"429"` …), plus `"dropped"`
   * for connections closed with no answer. Covers every route.
   */
  byStatus: Record<string, number>;
  /** One entry per second that saw at least one arrival, oldest first. */
  perSecond: MockVonageSecond[];
}

/**
 * The mock's settings that `stats()` echoes.
 *
 * @example Stats for an unlimited mock
 * ```ts
 * import { MockStatsRecorder, type MockStatsSettings } from "./mock_stats.ts";
 *
 * const settings: MockStatsSettings = { ratePerSecond: null, burst: null, seed: 42 };
 * const recorder = new MockStatsRecorder(0, settings);
 * console.log(recorder.snapshot(0).ratePerSecond); // null: no rate limit
 * ```
 */
export interface MockStatsSettings {
  /** Requests per second, or `null` when unlimited. */
  ratePerSecond: number | null;
  /** The bucket size, or `null` when unlimited. */
  burst: number | null;
  /** The fault-injection seed. */
  seed: number;
}

/**
 * Counters behind `GET /stats`. Seconds are kept sparse (only seconds with
 * arrivals), so a mock left idle for a week costs nothing.
 *
 * @example Counting one accepted request
 * ```ts
 * import { MockStatsRecorder } from "./mock_stats.ts";
 *
 * const recorder = new MockStatsRecorder(0, { ratePerSecond: 1, burst: 1, seed: 1 });
 * const second = recorder.arrival(250);
 * recorder.answer(202, second);
 * console.log(recorder.snapshot(1_000).perSecond); // [{ second: 0, arrivals: 1, accepted: 1, throttled: 0 }]
 * ```
 */
export class MockStatsRecorder {
  readonly #startMs: number;
  readonly #settings: MockStatsSettings;
  #arrivals = 0;
  #accepted = 0;
  #throttled = 0;
  readonly #byStatus = new Map<string, number>();
  readonly #seconds = new Map<number, MockVonageSecond>();

  /** Start counting at clock reading `startMs`. */
  constructor(startMs: number, settings: MockStatsSettings) {
    this.#startMs = startMs;
    this.#settings = settings;
  }

  /** Count an arrival at clock reading `nowMs`; returns its second's counters. */
  arrival(nowMs: number): MockVonageSecond {
    this.#arrivals++;
    const second = Math.max(0, Math.floor((nowMs - this.#startMs) / 1000));
    let entry = this.#seconds.get(second);
    if (entry === undefined) {
      entry = { second, arrivals: 0, accepted: 0, throttled: 0 };
      this.#seconds.set(second, entry);
    }
    entry.arrivals++;
    return entry;
  }

  /**
   * Count an answer (`"dropped"` for none). A 202 or a drop counts as accepted
   * (the mock drops only messages it accepted); a 429 as throttled.
   */
  answer(status: number | "dropped", second?: MockVonageSecond): void {
    const key = String(status);
    this.#byStatus.set(key, (this.#byStatus.get(key) ?? 0) + 1);
    if (status === 202 || status === "dropped") {
      this.#accepted++;
      if (second) second.accepted++;
    } else if (status === 429) {
      this.#throttled++;
      if (second) second.throttled++;
    }
  }

  /** A copy of every counter, as of clock reading `nowMs`. */
  snapshot(nowMs: number): MockVonageStats {
    return {
      uptimeMs: nowMs - this.#startMs,
      ...this.#settings,
      arrivals: this.#arrivals,
      accepted: this.#accepted,
      throttled: this.#throttled,
      byStatus: Object.fromEntries(
        [...this.#byStatus].sort(([a], [b]) => a.localeCompare(b)),
      ),
      perSecond: [...this.#seconds.values()]
        .map((entry) => ({ ...entry }))
        .sort((a, b) => a.second - b.second),
    };
  }
}
