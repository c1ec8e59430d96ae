/**
 * Pacing under an unknown or wrong limit, next to the peers, in one run (issue 14). The server
 * is the bundled mock as a strict one: a token bucket of R/s with burst B, no `Retry-After` and
 * no `RateLimit` headers (the mock's defaults), on a loopback socket.
 *
 * - **send**: politely's CLI in its own process (`main.ts send`, journal on), and the AWS SDK's
 *   adaptive learner (`DefaultRateLimiter` of `@smithy/util-retry`, CUBIC) in a worker pool of
 *   the same size with the same Vonage client: take a token, POST, tell the limiter the answer
 *   as the SDK's adaptive strategy does (`updateClientSendingRate`), send a throttled message
 *   again. The SDK's own sleep before each retry (its standard strategy's, up to 1 s for a
 *   first throttled retry, doubling) is left out: the learners are compared, not the retries.
 *   politely's learner runs in that same loop too (built where `simulate adaptive` builds it).
 *   Unknown limits of 5, 20 and 50/s; `--rate 40` (alone and with `--adaptive`) against 20/s;
 *   a burst-1 server at exactly `--rate 20`; the known limit (burst 2) as the control.
 * - **library**: 100 POSTs at 20/s through `politeFetch` with `new TokenBucket({ ratePerSecond:
 *   20 })` (the README's way), bottleneck (`minTime` 50 ms) + p-retry, and p-throttle (20 per
 *   1000 ms) + p-retry, all with default retry options, against servers of burst 1 and 2. A
 *   request that runs out of retries is sent again, so that every message ends accepted.
 *
 * Elapsed is the mock's first arrival to its last acceptance (arrival times of `/messages`; the
 * first request always finds the bucket full); ideal is (N − 1)/R. Every run is cut after
 * `--cap` seconds (default 45; a cut run shows cap ÷ ideal as a lower bound), so the bench stays
 * within a few minutes: about 3 for `--part send`, 2½ for `--part library`.
 *
 *   deno task bench:adaptive [--part send|library|all] [--cap 45]
 */

import { benchFlags } from "./flags.ts";
import { politeFetch } from "../lib/core/polite_fetch.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import type { MockVonageServer } from "../lib/mock/serve_mock_vonage.ts";
import { type Learner, politelyLearner } from "../lib/simulate/adaptive.ts";
import { createVonageClient, mintVonageJwt } from "../lib/vonage/mod.ts";
import { Bottleneck, DefaultRateLimiter, pRetry, pThrottle } from "./peers.ts";
import {
  FROM,
  numbers,
  runSend,
  serveTestMock,
  tempDir,
  TEST_APPLICATION_ID,
  TEST_PRIVATE_KEY,
  writeList,
} from "../tests/support/send_cli.ts";

/**
 * How `main.ts send` is told that the limit is unknown: the one place to change when the
 * learner's flags change.
 */
const UNKNOWN_LIMIT_FLAGS = ["--adaptive", "--rate", "1000"];
/** Requests in flight: `main.ts send`'s default `--concurrency`, given to both senders. */
const CONCURRENCY = 16;
const TEXT = "Hello from the adaptive bench";

const values = benchFlags({ part: "all", cap: 45 });
if (!["send", "library", "all"].includes(values.part)) {
  throw new RangeError(`--part must be send, library or all, current value is ${values.part}`);
}
const capSeconds = values.cap;
if (!(capSeconds > 0)) {
  throw new RangeError(
    `--cap must be a positive number of seconds, current value is ${values.cap}`,
  );
}

/** A strict server: rate and burst, nothing else. */
interface Server {
  ratePerSecond: number;
  burst: number;
}

/** A sender: sends each number in `list` until the mock at `url` accepts it, or `signal` aborts. */
type Sender = (url: string, list: string[], signal: AbortSignal) => Promise<void>;

interface Row {
  case: string;
  sender: string;
  messages: number;
  /** Distinct numbers accepted. */
  accepted: number;
  /** Acceptances beyond one per number (must be 0). */
  duplicates: number;
  requests: number;
  throttled: number;
  /** First arrival to last acceptance; undefined when not every message was accepted. */
  elapsedMs: number | undefined;
  idealMs: number;
}

async function measureOn(
  server: Server,
  messages: number,
  row: { case: string; sender: string },
  sender: Sender,
): Promise<Row> {
  await using mock = await serveTestMock(server);
  const signal = AbortSignal.timeout(capSeconds * 1000);
  await sender(mock.url, numbers(messages), signal);
  return {
    ...row,
    ...tally(mock, messages),
    idealMs: (messages - 1) / server.ratePerSecond * 1000,
  };
}

function tally(mock: MockVonageServer, messages: number) {
  const accepted = mock.messages();
  const stats = mock.stats();
  const distinct = new Set(accepted.map((message) => message.to)).size;
  const times = accepted.map((message) => message.timeMs);
  return {
    messages,
    accepted: distinct,
    duplicates: accepted.length - distinct,
    requests: stats.arrivals,
    throttled: stats.throttled,
    elapsedMs: distinct === messages ? Math.max(...times) - Math.min(...times) : undefined,
  };
}

/** `main.ts send` with `flags`, in its own process, stopped (SIGINT) at the cap. */
function cli(flags: string[]): Sender {
  return async (url, list) => {
    await using dir = await tempDir("politely-bench-adaptive-");
    const file = await writeList(`${dir.path}/recipients.txt`, list);
    const run = await runSend(file, url, [...flags, "--concurrency", String(CONCURRENCY)], {
      text: TEXT,
      wrapper: ["timeout", "-s", "INT", String(capSeconds)],
    });
    if (run.summary === undefined) throw new Error(`main.ts send failed: ${run.stderr}`);
  };
}

/**
 * A worker pool of `CONCURRENCY` around a learner: take a token, POST with the Vonage client,
 * tell the learner the answer, and send a throttled message again.
 */
function pool(makeLearner: () => Learner): Sender {
  return async (url, list, signal) => {
    const learner = makeLearner();
    const client = createVonageClient({
      applicationId: TEST_APPLICATION_ID,
      privateKey: TEST_PRIVATE_KEY,
      baseUrl: url,
    });
    const queue = list.values();
    const worker = async () => {
      for (const to of queue) {
        while (!signal.aborted) {
          await learner.take();
          const outcome = await client.sendSms({ to, from: FROM, text: TEXT });
          if (outcome.kind === "throttled") {
            learner.observe?.("throttled");
            continue;
          }
          learner.observe?.("accepted");
          if (outcome.kind !== "accepted") throw new Error(`${to}: unexpected ${outcome.kind}`);
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
}

/**
 * The AWS SDK's adaptive mode: before each attempt `getSendToken()`, after it
 * `updateClientSendingRate` with a throttling error or with nothing (a success), as
 * `AdaptiveRetryStrategy` does.
 */
const awsLearner = pool(() => {
  const limiter = new DefaultRateLimiter();
  return {
    take: () => limiter.getSendToken(),
    observe: (outcome) =>
      limiter.updateClientSendingRate(outcome === "throttled" ? { errorType: "THROTTLING" } : {}),
  };
});

/** One raw POST of an SMS to the mock, as a library user would write it. */
async function smsRequest(url: string): Promise<(to: string) => [string, RequestInit]> {
  const jwt = await mintVonageJwt({
    applicationId: TEST_APPLICATION_ID,
    privateKey: TEST_PRIVATE_KEY,
  });
  return (to) => [`${url}/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
    body: JSON.stringify({ message_type: "text", channel: "sms", to, from: FROM, text: TEXT }),
  }];
}

/** Call `send` until it resolves (a peer's retries ran out: the caller tries again), or abort. */
async function untilAccepted(signal: AbortSignal, send: () => Promise<void>): Promise<void> {
  while (!signal.aborted) {
    try {
      return await send();
    } catch (error) {
      if (signal.aborted) return;
      if (!(error instanceof ThrottledError)) throw error;
    }
  }
}

class ThrottledError extends Error {}

/** Read a peer's answer: a 429 throws (so that p-retry retries), a 202 is done. */
async function expectAccepted(response: Response): Promise<void> {
  await response.body?.cancel();
  if (response.status === 429) throw new ThrottledError("429");
  if (response.status !== 202) throw new Error(`unexpected HTTP ${response.status}`);
}

const LIBRARY_RATE = 20;

const politeFetchSender: Sender = async (url, list, signal) => {
  const request = await smsRequest(url);
  const limiter = new TokenBucket({ ratePerSecond: LIBRARY_RATE });
  await Promise.all(list.map((to) =>
    untilAccepted(signal, async () => {
      const [input, init] = request(to);
      // politeFetch hands back the last 429 when its retries run out: then try again.
      await expectAccepted(await politeFetch(input, { ...init, limiter, signal }));
    })
  ));
};

const bottleneckSender: Sender = async (url, list, signal) => {
  const request = await smsRequest(url);
  const limiter = new Bottleneck({ minTime: 1000 / LIBRARY_RATE });
  const stop = () => void limiter.stop({ dropWaitingJobs: true }).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    await Promise.all(list.map((to) =>
      untilAccepted(signal, () =>
        pRetry(async () => {
          const response = await limiter.schedule(() => fetch(...request(to)));
          await expectAccepted(response);
        }, { signal }))
    ));
  } finally {
    signal.removeEventListener("abort", stop);
  }
};

const pThrottleSender: Sender = async (url, list, signal) => {
  const request = await smsRequest(url);
  const throttled = pThrottle({ limit: LIBRARY_RATE, interval: 1000, signal })(
    (to: string) => fetch(...request(to)),
  );
  await Promise.all(list.map((to) =>
    untilAccepted(signal, () =>
      pRetry(async () => {
        await expectAccepted(await throttled(to));
      }, { signal }))
  ));
};

const rows: Row[] = [];
async function run(
  server: Server,
  messages: number,
  row: { case: string; sender: string },
  sender: Sender,
) {
  console.error(`${row.case}: ${row.sender} ...`);
  rows.push(await measureOn(server, messages, row, sender));
}

const AWS = "AWS SDK DefaultRateLimiter (CUBIC)";
const SAME_LOOP = "politely's learner in the same loop";
if (values.part !== "library") {
  const politely = `politely send ${UNKNOWN_LIMIT_FLAGS.join(" ")}`;
  for (const [ratePerSecond, messages] of [[5, 100], [20, 300], [50, 300]] as const) {
    const name = `unknown limit ${ratePerSecond}/s, ${messages} msgs`;
    const server = { ratePerSecond, burst: 2 };
    await run(server, messages, { case: name, sender: politely }, cli(UNKNOWN_LIMIT_FLAGS));
    await run(server, messages, { case: name, sender: AWS }, awsLearner);
    await run(server, messages, { case: name, sender: SAME_LOOP }, pool(() => politelyLearner()));
  }
  const twenty = { ratePerSecond: 20, burst: 2 };
  for (const flags of [["--rate", "40"], ["--rate", "40", "--adaptive"]]) {
    const sender = `politely send ${flags.join(" ")}`;
    await run(twenty, 100, { case: "limit 20/s, --rate 40, 100 msgs", sender }, cli(flags));
  }
  const exactly = ["--rate", "20"];
  await run({ ratePerSecond: 20, burst: 1 }, 100, {
    case: "burst-1 limit 20/s, --rate 20, 100 msgs",
    sender: "politely send --rate 20",
  }, cli(exactly));
  await run(twenty, 100, {
    case: "known limit 20/s, --rate 20, 100 msgs",
    sender: "politely send --rate 20",
  }, cli(exactly));
}
if (values.part !== "send") {
  for (const burst of [2, 1]) {
    const server = { ratePerSecond: LIBRARY_RATE, burst };
    const name = `library, 100 POSTs, limit 20/s burst ${burst}`;
    await run(server, 100, { case: name, sender: "politeFetch + TokenBucket" }, politeFetchSender);
    await run(server, 100, { case: name, sender: "bottleneck + p-retry" }, bottleneckSender);
    await run(server, 100, { case: name, sender: "p-throttle + p-retry" }, pThrottleSender);
  }
}

const table = [
  ["case", "sender", "accepted", "requests", "429s", "429s/msg", "elapsed", "÷ ideal"],
  ...rows.map((row) => [
    row.case,
    row.sender,
    `${row.accepted}/${row.messages}${row.duplicates > 0 ? ` (+${row.duplicates} TWICE)` : ""}`,
    String(row.requests),
    String(row.throttled),
    `${(100 * row.throttled / row.messages).toFixed(1)}%`,
    row.elapsedMs === undefined
      ? `cut at ${capSeconds} s`
      : `${(row.elapsedMs / 1000).toFixed(2)} s`,
    // A run cut at the cap took longer than the cap: that is a lower bound.
    row.elapsedMs === undefined
      ? `> ${(capSeconds * 1000 / row.idealMs).toFixed(1)}×`
      : `${(row.elapsedMs / row.idealMs).toFixed(2)}×`,
  ]),
];
const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
console.log(
  table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n"),
);
console.log(
  "\nelapsed: the mock's first arrival to its last acceptance; ideal: (N − 1)/R. " +
    "Goals (issue 14): unknown limit ≤ 1.15× with ≤ 3% 429s; --rate 2× the limit ≤ 1.30× with " +
    "≤ 20 429s per 100; burst 1 at exactly the rate ≤ 1.10× with < 5 per 100; known limit " +
    "≤ 1.03× with none.",
);
