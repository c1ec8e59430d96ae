import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import {
  hashMessageText,
  Journal,
  JournalError,
  type JournalErrorCode,
  type JournalHeader,
} from "../lib/send/journal.ts";

const header: JournalHeader = { from: "Acme", textHash: "sha256:" + "ab".repeat(32) };

/** A fresh path in a new temporary directory; the directory goes when `fn` ends. */
async function withJournalPath(fn: (path: string) => Promise<void>): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "journal_test_" });
  try {
    await fn(`${directory}/recipients.csv.journal.jsonl`);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

async function readRecords(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"), "the journal ends with a newline");
  return text.trimEnd().split("\n").map((line) => JSON.parse(line));
}

/** Replace a `Deno.FsFile` method for the duration of `fn` (to observe or break I/O). */
async function withFsFileMethod<K extends "syncData" | "write">(
  name: K,
  replacement: (original: Deno.FsFile[K]) => Deno.FsFile[K],
  fn: () => Promise<void>,
): Promise<void> {
  const prototype = Deno.FsFile.prototype;
  const original = prototype[name];
  prototype[name] = replacement(original);
  try {
    await fn();
  } finally {
    prototype[name] = original;
  }
}

async function assertJournalError(
  promise: Promise<unknown>,
  code: JournalErrorCode,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof JournalError, `expected a JournalError, got ${error}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("Journal.open() starts a new journal with a durable header", async () => {
  await withJournalPath(async (path) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5));
    const journal = await Journal.open(path, header, { clock });
    assert.deepEqual(journal.replay, {
      resumed: false,
      records: 0,
      tornLines: 0,
      createdAt: "2026-01-02T03:04:05.000Z",
    });
    assert.equal(journal.previous.size, 0);
    // Before close: the header is already on disk.
    assert.deepEqual(await readRecords(path), [{
      type: "header",
      version: 1,
      from: "Acme",
      textHash: header.textHash,
      createdAt: "2026-01-02T03:04:05.000Z",
    }]);
    await journal.close();
  });
});

Deno.test("Journal.sending() resolves only after its record is written and synced", async () => {
  await withJournalPath(async (path) => {
    const events: string[] = [];
    await withFsFileMethod("syncData", (original) =>
      async function (this: Deno.FsFile) {
        events.push("sync started");
        await original.call(this);
        events.push("sync done");
      }, async () => {
      const journal = await Journal.open(path, header, { clock: new FakeClock(0) });
      events.length = 0;
      await journal.sending("14155550100", 1);
      events.push("sending resolved");
      // Read through another handle at the moment the promise resolved.
      const records = await readRecords(path);
      assert.deepEqual(records.at(-1), {
        type: "sending",
        to: "14155550100",
        attempt: 1,
        at: "1970-01-01T00:00:00.000Z",
      });
      await journal.close();
    });
    assert.deepEqual(events, ["sync started", "sync done", "sending resolved"]);
  });
});

Deno.test("Journal group-commits 100 concurrent sendings into one write and one sync", async () => {
  await withJournalPath(async (path) => {
    let syncs = 0;
    await withFsFileMethod("syncData", (original) =>
      function (this: Deno.FsFile) {
        syncs++;
        return original.call(this);
      }, async () => {
      const journal = await Journal.open(path, header);
      const syncsAtOpen = syncs;
      const numbers = Array.from({ length: 100 }, (_, index) => String(14155550100 + index));
      await Promise.all(numbers.map((to) => journal.sending(to, 1)));
      assert.equal(syncs - syncsAtOpen, 1);
      assert.equal(journal.stats.commits, 2); // the header's, then the batch
      assert.equal(journal.stats.records, 100);
      const records = await readRecords(path);
      assert.deepEqual(records.slice(1).map((record) => record.to), numbers);
      await journal.close();
    });
  });
});

Deno.test("Journal batches records that arrive while a sync is in flight", async () => {
  await withJournalPath(async (path) => {
    const journal = await Journal.open(path, header);
    const commitsAtOpen = journal.stats.commits;
    const first = journal.sending("14155550100", 1);
    // Let the first batch start its write, then pile up 99 more behind it.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const rest = Array.from(
      { length: 99 },
      (_, index) => journal.sending(String(14155550101 + index), 1),
    );
    await Promise.all([first, ...rest]);
    const commits = journal.stats.commits - commitsAtOpen;
    assert.ok(commits >= 1 && commits <= 3, `${commits} commits for 100 records`);
    assert.equal((await readRecords(path)).length, 101);
    await journal.close();
  });
});

Deno.test("Journal.open() replays every state of a previous run", async () => {
  await withJournalPath(async (path) => {
    const first = await Journal.open(path, header);
    await first.sending("1001", 1);
    await first.accepted("1001", "uuid-1");
    await first.sending("1002", 1);
    await first.failed("1002", "422 Invalid Parameters: 'to' is not valid");
    await first.sending("1003", 1);
    await first.uncertain("1003", "500 Internal Server Error");
    await first.sending("1004"); // no outcome: the run died mid-request
    await first.sending("1005", 1);
    await first.released("1005", "429 Too Many Requests");
    await first.sending("1006", 1);
    await first.released("1006", "429 Too Many Requests");
    await first.sending("1006", 2);
    await first.accepted("1006", "uuid-6");
    await first.sending("1006", 3); // a later resend cannot undo an acceptance
    await first.uncertain("1006", "timeout");
    await first.close();

    const second = await Journal.open(path, header);
    assert.equal(second.replay.resumed, true);
    assert.equal(second.replay.records, 16);
    assert.equal(second.replay.tornLines, 0);
    assert.deepEqual(Object.fromEntries(second.previous), {
      "1001": { state: "accepted", messageUuid: "uuid-1", attempts: 1 },
      "1002": { state: "failed", reason: "422 Invalid Parameters: 'to' is not valid", attempts: 1 },
      "1003": { state: "uncertain", reason: "500 Internal Server Error", attempts: 1 },
      "1004": {
        state: "uncertain",
        reason: "the run stopped while this message was being sent: it may have been accepted",
        attempts: 1,
      },
      "1005": { state: "pending", reason: "429 Too Many Requests", attempts: 1 },
      "1006": { state: "accepted", messageUuid: "uuid-6", attempts: 3 },
    });
    // The resumed journal appends after what was there.
    await second.sending("1004", 2);
    await second.close();
    const third = await Journal.open(path, header);
    assert.equal(third.previous.get("1004")?.attempts, 2);
    await third.close();
  });
});

Deno.test("Journal.sending() without an attempt number writes none", async () => {
  await withJournalPath(async (path) => {
    const journal = await Journal.open(path, header, { clock: new FakeClock(0) });
    await journal.sending("1001");
    await journal.close();
    assert.deepEqual((await readRecords(path)).at(-1), {
      type: "sending",
      to: "1001",
      at: "1970-01-01T00:00:00.000Z",
    });
  });
});

Deno.test("Journal.open() drops a torn last line, counts it and appends on a clean line", async () => {
  await withJournalPath(async (path) => {
    const first = await Journal.open(path, header);
    await first.sending("1001", 1);
    await first.close();
    await Deno.writeTextFile(path, '{"type":"accepted","to":"1001","messa', { append: true });

    const second = await Journal.open(path, header);
    assert.equal(second.replay.tornLines, 1);
    assert.equal(second.previous.get("1001")?.state, "uncertain");
    await second.accepted("1002", "uuid-2");
    await second.close();

    const records = await readRecords(path);
    assert.deepEqual(records.map((record) => record.type), ["header", "sending", "accepted"]);
    const third = await Journal.open(path, header);
    assert.equal(third.replay.tornLines, 0);
    await third.close();
  });
});

Deno.test("Journal.open() keeps a whole last record whose newline was cut off", async () => {
  await withJournalPath(async (path) => {
    const first = await Journal.open(path, header);
    await first.close();
    await Deno.writeTextFile(
      path,
      '{"type":"sending","to":"1001","attempt":1,"at":"2026-01-01T00:00:00.000Z"}',
      { append: true },
    );
    const second = await Journal.open(path, header);
    assert.equal(second.replay.tornLines, 0);
    assert.equal(second.previous.get("1001")?.state, "uncertain");
    await second.failed("1001", "422");
    await second.close();
    assert.deepEqual((await readRecords(path)).map((record) => record.type), [
      "header",
      "sending",
      "failed",
    ]);
  });
});

Deno.test("Journal.open() restarts a journal whose header was torn", async () => {
  await withJournalPath(async (path) => {
    await Deno.writeTextFile(path, '{"type":"header","vers');
    const journal = await Journal.open(path, header);
    assert.equal(journal.replay.resumed, false);
    assert.equal(journal.replay.tornLines, 1);
    await journal.close();
    assert.deepEqual((await readRecords(path)).map((record) => record.type), ["header"]);
  });
});

Deno.test("Journal.open() refuses a journal of another sender or text that may have sent", async () => {
  await withJournalPath(async (path) => {
    const first = await Journal.open(path, header, { clock: new FakeClock(0) });
    await first.sending("14155550100");
    await first.accepted("14155550100", "uuid-1");
    await first.close();
    const before = await Deno.readTextFile(path);
    await assertJournalError(
      Journal.open(path, { ...header, from: "Other" }),
      "different-sender",
      new RegExp(
        `^The journal ${path} belongs to a send from "Acme" \\(started 1970-01-01T00:00:00.000Z\\), ` +
          `not from "Other"; resuming it would mix two sends\\. Use another --journal FILE, ` +
          `or delete ${path} to start over\\.$`,
      ),
    );
    await assertJournalError(
      Journal.open(path, { ...header, textHash: await hashMessageText("another text") }),
      "different-text",
      /belongs to a send of a different message text .*Use another --journal FILE, or delete/,
    );
    assert.equal(await Deno.readTextFile(path), before, "a refused journal is left as it was");
    // A request that may have been accepted counts too.
    await Deno.writeTextFile(
      path,
      before.split("\n")[0] + "\n" + JSON.stringify({
        type: "sending",
        to: "14155550101",
        at: "1970-01-01T00:00:00.000Z",
      }) + "\n",
    );
    await assertJournalError(
      Journal.open(path, { ...header, from: "Other" }),
      "different-sender",
      /Other/,
    );
  });
});

Deno.test("Journal.open() lets another sender or text take over a journal that sent nothing", async () => {
  await withJournalPath(async (path) => {
    // The run of a sender Vonage refused: the one request answered 422, released.
    const first = await Journal.open(path, header, { clock: new FakeClock(0) });
    await first.sending("14155550100");
    await first.released("14155550100", "422 Invalid params (from: not a sender)");
    await first.failed("14155550101", "422 Invalid params (to: not a number)");
    await first.close();
    const fixed = { ...header, from: "Fixed" };
    const second = await Journal.open(path, fixed, { clock: new FakeClock(5_000) });
    assert.deepEqual(second.replay.replaced, header);
    assert.equal(second.replay.createdAt, "1970-01-01T00:00:05.000Z");
    assert.equal(second.previous.size, 0, "everyone is sent to again");
    await second.sending("14155550101");
    await second.accepted("14155550101", "uuid-2");
    await second.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.filter((l) => l.type === "header").map((l) => l.from), [
      "Acme",
      "Fixed",
    ]);
    // The next run of the fixed send resumes it as usual, and the first sender is refused now.
    const third = await Journal.open(path, fixed);
    assert.equal(third.replay.replaced, undefined);
    assert.equal(third.replay.createdAt, "1970-01-01T00:00:05.000Z");
    assert.equal(third.previous.get("14155550101")?.state, "accepted");
    await third.close();
    await assertJournalError(Journal.open(path, header), "different-sender", /"Fixed"/);
  });
});

Deno.test("Journal.open() refuses a file that is not a journal, and leaves it alone", async () => {
  await withJournalPath(async (path) => {
    await Deno.writeTextFile(path, "to,name\n14155550100,Ada\n");
    await assertJournalError(
      Journal.open(path, header),
      "not-a-journal",
      /is not a politely journal \(its first line is not a journal header\); use another --journal FILE\.$/,
    );
    await Deno.writeTextFile(path, "no newline at all");
    await assertJournalError(Journal.open(path, header), "not-a-journal", /not a politely journal/);
    assert.equal(await Deno.readTextFile(path), "no newline at all");
  });
});

Deno.test("Journal.open() refuses a newer format version and damage before the last line", async () => {
  await withJournalPath(async (path) => {
    const line = (record: object) => JSON.stringify(record) + "\n";
    const head = { type: "header", version: 1, ...header, createdAt: "2026-01-01T00:00:00.000Z" };
    await Deno.writeTextFile(path, line({ ...head, version: 2 }));
    await assertJournalError(Journal.open(path, header), "unsupported-version", /format version 2/);
    await Deno.writeTextFile(
      path,
      line(head) + "garbage\n" + line({ type: "accepted", to: "1", messageUuid: "u", at: "" }),
    );
    await assertJournalError(
      Journal.open(path, header),
      "corrupt",
      /is damaged: line 2 is not a journal record/,
    );
  });
});

Deno.test("Journal.open() refuses a journal another run holds open", async () => {
  await withJournalPath(async (path) => {
    const first = await Journal.open(path, header);
    await assertJournalError(Journal.open(path, header), "in-use", /in use by another send/);
    await first.close();
    const second = await Journal.open(path, header);
    await second.close();
  });
});

Deno.test("Journal.close() flushes records nobody awaited yet", async () => {
  await withJournalPath(async (path) => {
    const journal = await Journal.open(path, header);
    const pending = [
      journal.sending("1001", 1),
      journal.accepted("1001", "uuid-1"),
      journal.sending("1002", 1),
      journal.uncertain("1002", "timeout"),
    ];
    await journal.close();
    await Promise.all(pending);
    assert.deepEqual((await readRecords(path)).map((record) => record.type), [
      "header",
      "sending",
      "accepted",
      "sending",
      "uncertain",
    ]);
    await assert.rejects(journal.sending("1003", 1), /it is closed/);
    await journal.close(); // a second close does nothing
  });
});

Deno.test("Journal.flush() waits for every record appended so far", async () => {
  await withJournalPath(async (path) => {
    await using journal = await Journal.open(path, header);
    const pending = journal.accepted("1001", "uuid-1");
    await journal.flush();
    assert.equal((await readRecords(path)).length, 2);
    await pending;
  });
});

Deno.test("Journal rejects every record after a failed write with a JournalError", async () => {
  await withJournalPath(async (path) => {
    const journal = await Journal.open(path, header);
    await withFsFileMethod(
      "write",
      () => () => Promise.reject(new Error("No space left on device")),
      async () => {
        await assertJournalError(
          journal.sending("1001", 1),
          "write-failed",
          new RegExp(`^Cannot write the journal ${path}: No space left on device\\. Stopping`),
        );
      },
    );
    await assertJournalError(journal.sending("1002", 1), "write-failed", /No space left/);
    await assertJournalError(journal.close(), "write-failed", /No space left/);
  });
});

Deno.test("Journal.none() remembers nothing and writes nothing", async () => {
  const journal = Journal.none();
  assert.equal(journal.path, undefined);
  assert.equal(journal.previous.size, 0);
  await journal.sending("1001", 1);
  await journal.accepted("1001", "uuid-1");
  await journal.flush();
  assert.deepEqual(journal.stats, { records: 2, commits: 0, bytes: 0 });
  await journal.close();
  await assert.rejects(journal.failed("1001", "x"), /it is closed/);
});

Deno.test("hashMessageText() is the SHA-256 of the UTF-8 text", async () => {
  assert.equal(
    await hashMessageText("abc"),
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.notEqual(await hashMessageText("Hello"), await hashMessageText("Hello "));
});
