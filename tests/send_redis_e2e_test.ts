/**
 * End-to-end tests of `main.ts send --redis`: several real sender processes sharing one
 * budget and one queue through a real `redis-server`, sending to the mock Vonage API
 * served by this test process. Those that need a server are ignored (with the reason in
 * the name) when redis-server is not installed; `.ci/run` then fails under `CI=true`.
 */

import assert from "node:assert/strict";
import type { JournalState } from "../lib/send/journal.ts";
import { connectRedis } from "../lib/redis/connect.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";
import {
  acceptedCounts,
  finishSend,
  numbers,
  replayJournal,
  runSend,
  sendToMock,
  serveTestMock,
  signalAfterAccepted,
  tempDir,
  writeList,
} from "./support/send_cli.ts";
import { busiestSeconds, realTimeLimit, STALL_MS } from "./support/windows.ts";

interface JournalLine {
  type: string;
  to?: string;
}

async function journalLines(path: string): Promise<JournalLine[]> {
  const text = await Deno.readTextFile(path);
  // A torn last line (killed mid-write) is not a record.
  return text.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as JournalLine];
    } catch {
      return [];
    }
  });
}

/** Numbers whose last `sending` has no outcome after it: in flight at the kill. */
function inFlight(lines: JournalLine[]): Set<string> {
  const open = new Set<string>();
  for (const line of lines) {
    if (line.to === undefined) continue;
    if (line.type === "sending") open.add(line.to);
    else open.delete(line.to);
  }
  return open;
}

function numbersIn(states: ReadonlyMap<string, JournalState>, state: string): Set<string> {
  return new Set([...states].filter(([, s]) => s.state === state).map(([to]) => to));
}

redisTest(
  "send --redis: two workers share one 20/s budget and one queue: 60 sent once, never faster than 20/s together",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRedisServer();
    await using server = await serveTestMock({ ratePerSecond: 20, burst: 2 });
    const list = numbers(60);
    const file = await writeList(`${dir.path}/recipients.txt`, list);

    const worker = (n: number) =>
      runSend(file, server.url, [
        "--redis",
        redis.url,
        "--rate",
        "20",
        "--journal",
        `${dir.path}/worker${n}.journal.jsonl`,
      ]);
    const runs = await Promise.all([worker(1), worker(2)]);

    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const [one, two] = runs.map((run) => run.summary!);
    // Both did some of the work, and together all of it.
    assert.ok(one!.accepted > 0 && two!.accepted > 0, `${one!.accepted} + ${two!.accepted}`);
    assert.equal(one!.accepted + two!.accepted, 60);
    const throttled = one!.throttled + two!.throttled;
    assert.equal(one!.attempts + two!.attempts, 60 + throttled);
    assert.notEqual(one!.worker, two!.worker);
    for (const summary of [one!, two!]) {
      assert.equal(summary.queue!.enqueued, 60);
      assert.equal(summary.queue!.key, one!.queue!.key, "one queue");
    }
    // Whoever finished last saw the whole queue done.
    const last = [one!, two!].find((summary) => summary.queue!.completed === 60);
    assert.ok(last, "a worker saw the queue completed");
    assert.deepEqual(last.queue!.outcomes, { accepted: 60 });

    // The server's view: never over the shared budget (two budgets would show 40/s), each
    // number accepted once. How close to (60 − 1)/20 s and how few 429s on a quiet
    // machine: `deno task bench:redis-pacing`.
    const stats = server.stats();
    assert.equal(stats.throttled, throttled);
    assert.equal(stats.arrivals, 60 + throttled);
    const busiest = busiestSeconds(stats.perSecond, 2);
    assert.ok(busiest <= realTimeLimit(20, 1, 2_000), `${busiest} requests in 2 s`);
    const counts = acceptedCounts(server);
    assert.deepEqual(list.filter((to) => counts.get(to) !== 1), []);
    // No faster than one budget allows: 59 intervals, less a stalled first request.
    const times = server.messages().map((message) => message.timeMs);
    const elapsedMs = Math.max(...times) - Math.min(...times);
    const idealMs = (60 - 1) / 20 * 1000;
    assert.ok(elapsedMs >= idealMs - STALL_MS, `elapsed ${elapsedMs} ms, ideal ${idealMs} ms`);
  },
);

redisTest(
  "send --redis: a worker killed mid-run is taken over: what it may have sent is uncertain, the rest sent once",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRedisServer();
    // Latency keeps several requests in flight, so the kill catches some mid-request.
    await using server = await serveTestMock({ ratePerSecond: 50, burst: 2, latencyMs: 150 });
    const list = numbers(100);
    const file = await writeList(`${dir.path}/recipients.txt`, list);
    const deadJournal = `${dir.path}/dead.journal.jsonl`;
    const heirJournal = `${dir.path}/heir.journal.jsonl`;
    const common = ["--redis", redis.url, "--rate", "50"];

    const { run: killed } = await signalAfterAccepted(
      server,
      sendToMock(file, server.url, [...common, "--journal", deadJournal]),
      "SIGKILL",
      30,
    );
    assert.equal(killed.signal, "SIGKILL");
    const deadLines = await journalLines(deadJournal);
    const caughtInFlight = inFlight(deadLines);
    const everStarted = new Set(deadLines.filter((l) => l.type === "sending").map((l) => l.to!));
    assert.ok(caughtInFlight.size > 0, "the kill caught no request in flight");

    const heir = await runSend(file, server.url, [
      ...common,
      "--journal",
      heirJournal,
      "--redis-reclaim-after",
      "1",
    ]);

    // Some numbers are in doubt, so not every recipient is known accepted: exit 1.
    assert.equal(heir.code, 1, heir.stderr);
    const summary = heir.summary!;
    assert.equal(summary.queue!.completed, 100, "the heir finished the queue");
    assert.equal(summary.queue!.pending, 0);
    const heirStates = await replayJournal(heirJournal);
    const uncertain = numbersIn(heirStates, "uncertain");
    assert.equal(summary.uncertain, uncertain.size);
    // Every request in flight at the kill is reported uncertain, and only numbers the dead
    // worker had begun to send are: what it held but never began was sent by the heir.
    // (A kill between the journal's `sending` and the started mark in Redis comes before
    // the request could leave: the heir rightly sends that one, once.)
    const acceptedSoFar = acceptedCounts(server);
    const doubted = [...caughtInFlight].filter((to) => uncertain.has(to));
    assert.ok(doubted.length > 0, "no request caught in flight was reported uncertain");
    for (const to of caughtInFlight) {
      assert.ok(uncertain.has(to) || acceptedSoFar.get(to) === 1, `${to} was in flight`);
    }
    for (const to of uncertain) assert.ok(everStarted.has(to), `${to} never began, yet uncertain`);
    for (const to of uncertain) {
      const state = heirStates.get(to)!;
      assert.ok(state.state === "uncertain" && /stopped while sending/.test(state.reason), to);
    }
    // Never sent twice; everything not in doubt accepted exactly once.
    const counts = acceptedCounts(server);
    for (const to of list) {
      const times = counts.get(to) ?? 0;
      if (uncertain.has(to)) assert.ok(times <= 1, `${to} accepted ${times} times`);
      else assert.equal(times, 1, `${to} accepted ${times} times`);
    }
    const { outcomes } = summary.queue!;
    assert.equal((outcomes.accepted ?? 0) + (outcomes.uncertain ?? 0), 100);
    assert.equal(outcomes.uncertain, uncertain.size);
  },
);

redisTest(
  "send --redis: a worker restarted with its journal takes its own entries back and follows its journal",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRedisServer();
    await using server = await serveTestMock({ ratePerSecond: 50, burst: 2, latencyMs: 150 });
    const list = numbers(80);
    const file = await writeList(`${dir.path}/recipients.txt`, list);
    const journal = `${dir.path}/worker.journal.jsonl`;
    // The default reclaim time (60 s) is far off: only its own name gets the entries back.
    const command = sendToMock(file, server.url, [
      "--redis",
      redis.url,
      "--rate",
      "50",
      "--journal",
      journal,
    ]);

    await signalAfterAccepted(server, command, "SIGKILL", 25);
    const caughtInFlight = inFlight(await journalLines(journal));
    assert.ok(caughtInFlight.size > 0, "the kill caught no request in flight");

    const started = Date.now();
    const rerun = finishSend(await command.output());
    assert.ok(Date.now() - started < 20_000, "the rerun did not wait for the reclaim time");

    assert.equal(rerun.code, 1, rerun.stderr);
    // Exactly the requests in flight at the kill are in doubt: the journal knows the rest.
    const states = await replayJournal(journal);
    assert.deepEqual([...numbersIn(states, "uncertain")].sort(), [...caughtInFlight].sort());
    // (Failed once in three full runs under load with 49 for 67: the rerun's own account
    // goes in the message, to tell which entries it left.)
    const account = `${JSON.stringify(rerun.summary)}\n${rerun.stderr}`;
    assert.equal(numbersIn(states, "accepted").size, 80 - caughtInFlight.size, account);
    assert.equal(rerun.summary!.queue!.completed, 80, account);
    const counts = acceptedCounts(server);
    for (const to of list) {
      const times = counts.get(to) ?? 0;
      if (caughtInFlight.has(to)) assert.ok(times <= 1, to);
      else assert.equal(times, 1, `${to} accepted ${times} times`);
    }
  },
);

redisTest(
  "send --redis: an interrupted worker hands back what it never sent; another sends it",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRedisServer();
    await using server = await serveTestMock({ ratePerSecond: 50, burst: 2, latencyMs: 50 });
    const list = numbers(60);
    const file = await writeList(`${dir.path}/recipients.txt`, list);
    const common = ["--redis", redis.url, "--rate", "50"];

    const { run: stopped } = await signalAfterAccepted(
      server,
      sendToMock(file, server.url, [...common, "--journal", `${dir.path}/a.jsonl`]),
      "SIGINT",
      15,
    );
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.equal(stopped.summary!.stoppedBy, "interrupt");
    assert.ok(stopped.summary!.pending > 0, "it held some it never sent");

    // Another worker with the default reclaim time: handed-back entries need no waiting.
    const started = Date.now();
    const other = await runSend(file, server.url, [...common, "--journal", `${dir.path}/b.jsonl`]);
    assert.ok(Date.now() - started < 20_000);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.summary!.uncertain, 0);
    assert.equal(stopped.summary!.accepted + other.summary!.accepted, 60);
    assert.deepEqual(other.summary!.queue!.outcomes, { accepted: 60 });
    const counts = acceptedCounts(server);
    assert.deepEqual(list.filter((to) => counts.get(to) !== 1), []);
  },
);

// Needs no redis-server: every case is refused before (or at) the first connection.
Deno.test(
  "send --redis refuses --adaptive and an unreachable server: exit 2, one line, nothing sent",
  async () => {
    await using dir = await tempDir();
    await using server = await serveTestMock({ ratePerSecond: 0 });
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(5));
    // A port nothing listens on.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    listener.close();

    const cases: Array<[string, string[], RegExp]> = [
      [
        "--adaptive",
        ["--redis", deadUrl, "--adaptive"],
        /--adaptive .*cannot share a Redis budget/,
      ],
      [
        "unreachable",
        ["--redis", deadUrl],
        new RegExp(`cannot connect to Redis at ${deadUrl}.*ECONNREFUSED.*nothing sent`),
      ],
      ["not a URL", ["--redis", "localhost:6379"], /--redis must be a redis:\/\/ or rediss:\/\//],
      ["reclaim without --redis", ["--redis-reclaim-after", "1"], /needs --redis/],
      [
        "reclaim too soon",
        ["--redis", deadUrl, "--redis-reclaim-after", "0.5"],
        /--redis-reclaim-after must be at least 1/,
      ],
    ];
    for (const [name, extra, pattern] of cases) {
      const run = await runSend(file, server.url, extra);
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${name}: ${run.stderr}`);
      assert.match(lines[0]!, /^politely: /);
      assert.match(lines[0]!, pattern, name);
      assert.equal(run.summary, undefined);
    }
    assert.equal(server.stats().arrivals, 0);
    await assert.rejects(Deno.stat(`${file}.journal.jsonl`), Deno.errors.NotFound);
  },
);

redisTest(
  "send --redis --dry-run names the shared budget and queue; the same file gives the same queue",
  async () => {
    await using dir = await tempDir();
    await using redis = await startRedisServer();
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(3));
    const reordered = await writeList(`${dir.path}/reordered.txt`, numbers(3).reverse());

    const dry = async (input: string) => {
      const run = await runSend(input, "http://127.0.0.1:9", ["--redis", redis.url, "--dry-run"]);
      assert.equal(run.code, 0, run.stderr);
      // --json (which the harness passes): the dry run's report is one JSON object.
      const queue: unknown = JSON.parse(run.stdout).queue;
      return typeof queue === "string" && /^politely:\{[0-9a-f]{24}\}:queue$/.test(queue)
        ? queue
        : undefined;
    };
    const first = await dry(file);
    assert.ok(first !== undefined);
    assert.equal(await dry(file), first);
    assert.notEqual(await dry(reordered), first);
    // A dry run leaves nothing in Redis.
    await using connection = await connectRedis(redis.url);
    assert.deepEqual(await connection.sendCommand(["KEYS", "*"]), []);
  },
);
