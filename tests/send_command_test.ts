/**
 * `main.ts send` refusing user mistakes before anything is sent: in-process through
 * `runSendCommand(args, io)` with a fake environment, and through a spawned `main.ts`
 * for the exit status and the shape of what reaches stderr.
 */

import assert from "node:assert/strict";
import { runSendCommand, type SendCommandIo } from "../lib/cli/send_command.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import {
  finishSend,
  sendCommand,
  type SendRun,
  serveTestMock,
  tempDir,
  TEST_APPLICATION_ID,
  TEST_CREDENTIALS,
  TEST_PRIVATE_KEY,
} from "./support/send_cli.ts";

/** A fake environment and captured output for one in-process run. */
function fakeIo(env: Readonly<Record<string, string>> = TEST_CREDENTIALS) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: SendCommandIo = {
    env: { get: (name) => env[name] },
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
  };
  return { io, stdout, stderr };
}

async function recipientsFile(dir: string, count: number): Promise<string> {
  const path = `${dir}/recipients.txt`;
  const lines = Array.from({ length: count }, (_, i) => `+1 415 555 ${String(i).padStart(4, "0")}`);
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

/** The PEM's base64 lines: key material that no message may repeat. */
function keyMaterial(pem: string): string[] {
  return pem.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"));
}

/** The same RSA key as PKCS#1 (`BEGIN RSA PRIVATE KEY`), cut out of the PKCS#8 fixture. */
function pkcs1Pem(pkcs8Pem: string): string {
  const body = pkcs8Pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  // PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier rsaEncryption, OCTET STRING
  // { RSAPrivateKey } }. For a 2048-bit key the OCTET STRING's content starts at byte 26.
  assert.equal(der[22], 0x04, "the fixture is an RSA PKCS#8 key of the expected layout");
  const base64 = btoa(String.fromCharCode(...der.subarray(26)));
  const lines = base64.match(/.{1,64}/g)!;
  return `-----BEGIN RSA PRIVATE KEY-----\n${lines.join("\n")}\n-----END RSA PRIVATE KEY-----\n`;
}

/** Assert that `run` rejects with a one-line UsageError matching `pattern`; returns it. */
async function assertUsageError(run: Promise<number>, pattern: RegExp): Promise<string> {
  let message = "";
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof UsageError, `a UsageError, not ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), `one line: ${error.message}`);
    message = error.message;
    return true;
  });
  return message;
}

/** Run `main.ts send ...` in its own process, with only `env`'s Vonage variables set. */
async function spawnSend(
  args: string[],
  env: Readonly<Record<string, string>> = TEST_CREDENTIALS,
): Promise<SendRun> {
  return finishSend(await sendCommand(args, { env }).output());
}

Deno.test("runSendCommand() --help prints the usage with every flag and exits 0", async () => {
  const { io, stdout, stderr } = fakeIo({});
  assert.equal(await runSendCommand(["--help"], io), 0);
  const help = stdout.join("\n");
  assert.match(help, /^Usage: main\.ts send RECIPIENTS\|- --text TEXT/);
  for (
    const flag of [
      "--text",
      "--from",
      "--rate",
      "--burst",
      "--concurrency",
      "--adaptive",
      "--max-time",
      "--max-tries",
      "--backoff",
      "--jitter",
      "--base-url",
      "--journal",
      "--no-journal",
      "--retry-uncertain",
      "--resend-uncertain",
      "--skip-invalid",
      "--dry-run",
      "--json",
      "--quiet",
      "VONAGE_APPLICATION_ID",
      "VONAGE_PRIVATE_KEY_PATH",
      "VONAGE_FROM",
    ]
  ) {
    assert.ok(help.includes(flag), `help mentions ${flag}`);
  }
  assert.deepEqual(stderr, []);
});

Deno.test("runSendCommand() refuses bad flags with a one-line UsageError", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [["r.csv", "--bogus"], /^send: unknown option '--bogus'; see 'main\.ts send --help'$/],
    [
      ["r.csv", "--base-url", "--rate", "5"],
      /--base-url needs a value, but '--rate' looks like a flag; write --base-url=VALUE/,
    ],
    [["r.csv", "--text"], /--text/],
    [[], /which recipients\? Give a file \(or - for standard input\)/],
    [["a.csv", "b.csv", "--text", "hi"], /one recipients file at a time, got 2: a\.csv b\.csv/],
    [["r.csv", "--text", ""], /--text must be 1 to 1000 characters, got 0/],
    [["r.csv", "--text", "x".repeat(1001)], /--text must be 1 to 1000 characters, got 1001/],
    [["r.csv", "--from", "A", "--rate", "0"], /--rate must be a positive number, got '0'/],
    [["r.csv", "--from", "A", "--rate", "fast"], /--rate must be a positive number/],
    [
      ["r.csv", "--from", "A", "--burst", "1.5"],
      /--burst must be a positive whole number, got '1\.5'/,
    ],
    [["r.csv", "--from", "A", "--max-tries", "0"], /--max-tries must be a positive whole number/],
    [["r.csv", "--from", "A", "--rate", "0x10"], /--rate must be a positive number, got '0x10'/],
    [["r.csv", "--from", "A", "--rate", "1e3"], /--rate must be a positive number, got '1e3'/],
    [["r.csv", "--from", "A", "--backoff", "quadratic"], /--backoff must be expo, fibo/],
    [["r.csv", "--from", "A", "--jitter", "some"], /--jitter must be .*full/],
    [["r.csv", "--from", "A", "--base-url", "ftp://x"], /--base-url must be an http\(s\) URL/],
    [["r.csv", "--from", "A", "--journal", "j", "--no-journal"], /contradict each other/],
    [
      ["r.csv", "--from", "My Company Name"],
      /--from: "My Company Name" is 15 characters long: an alphanumeric sender id has at most 11 \(e\.g\. "My Company"\); nothing sent/,
    ],
    [["r.csv", "--from", "+12 3"], /--from: "\+12 3" is not a sender number: it has 3 digits/],
    [
      ["r.csv", "--from", "A", "--default-country", "USA"],
      /--default-country must be a two-letter ISO 3166 country code such as US, GB or DE, got 'USA'/,
    ],
    [
      ["r.csv", "--from", "A", "--text", "Hi {{name"],
      /--text: "\{\{" at character 4 is never closed/,
    ],
    [
      ["r.csv", "--from", "A", "--price-per-segment", "free"],
      /--price-per-segment must be a positive number/,
    ],
    [
      ["r.csv", "--from", "A", "--redis", "redis://127.0.0.1", "--adaptive"],
      /--adaptive .*cannot share a Redis budget/,
    ],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" ").slice(0, 60) || "(no arguments)", async () => {
      await assertUsageError(runSendCommand(args, fakeIo().io), pattern);
    });
  }
});

Deno.test("runSendCommand() needs a sender, an application id and a private key", async () => {
  const args = ["recipients.csv", "--text", "hi"];
  await assertUsageError(
    runSendCommand(args, fakeIo().io),
    /^no sender: pass --from NUMBER \(or set VONAGE_FROM\)$/,
  );
  // VONAGE_FROM stands in for --from.
  await assertUsageError(
    runSendCommand(args, fakeIo({ VONAGE_FROM: "Acme" }).io),
    /^no application id: set VONAGE_APPLICATION_ID/,
  );
  await assertUsageError(
    runSendCommand([...args, "--from", "Acme"], fakeIo({ VONAGE_APPLICATION_ID: " " }).io),
    /^no application id/,
  );
  await assertUsageError(
    runSendCommand(
      [...args, "--from", "Acme"],
      fakeIo({ VONAGE_APPLICATION_ID: TEST_APPLICATION_ID }).io,
    ),
    /^no private key: set VONAGE_PRIVATE_KEY_PATH .*\(or VONAGE_PRIVATE_KEY/,
  );
});

Deno.test("runSendCommand() names an unreadable key file and never echoes key material", async (t) => {
  await using dir = await tempDir();
  const args = ["recipients.csv", "--text", "hi", "--from", "Acme"];
  const withKeyFile = (path: string) =>
    fakeIo({ VONAGE_APPLICATION_ID: TEST_APPLICATION_ID, VONAGE_PRIVATE_KEY_PATH: path }).io;

  await t.step("a missing file", async () => {
    await assertUsageError(
      runSendCommand(args, withKeyFile(`${dir.path}/nope.key`)),
      /^cannot read the private key .*nope\.key \(VONAGE_PRIVATE_KEY_PATH\): no such file$/,
    );
  });
  await t.step("a directory", async () => {
    await assertUsageError(
      runSendCommand(args, withKeyFile(dir.path)),
      /^cannot read the private key .* \(VONAGE_PRIVATE_KEY_PATH\)/,
    );
  });
  await t.step("a PKCS#1 key", async () => {
    const pem = pkcs1Pem(TEST_PRIVATE_KEY);
    await Deno.writeTextFile(`${dir.path}/pkcs1.key`, pem);
    const message = await assertUsageError(
      runSendCommand(args, withKeyFile(`${dir.path}/pkcs1.key`)),
      /pkcs1\.key is not usable: .*PKCS#8.*PKCS#1.*openssl pkcs8 -topk8/,
    );
    for (const line of keyMaterial(pem)) assert.ok(!message.includes(line.slice(0, 16)));
  });
  await t.step("garbage", async () => {
    const garbage = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 not a key at all\n";
    await Deno.writeTextFile(`${dir.path}/garbage.key`, garbage);
    const message = await assertUsageError(
      runSendCommand(args, withKeyFile(`${dir.path}/garbage.key`)),
      /garbage\.key is not usable: .*expected a PKCS#8 PEM private key/,
    );
    assert.ok(!message.includes("AAAAB3NzaC1yc2E"));
  });
  await t.step("a PKCS#8 block that is not an RSA key", async () => {
    const broken = TEST_PRIVATE_KEY.replace(/^(.{64}\n)(?:.{64}\n){6}/m, "$1");
    await Deno.writeTextFile(`${dir.path}/cut.key`, broken);
    const message = await assertUsageError(
      runSendCommand(args, withKeyFile(`${dir.path}/cut.key`)),
      /cut\.key is not usable: .*does not import/,
    );
    for (const line of keyMaterial(broken)) assert.ok(!message.includes(line.slice(0, 16)));
  });
  await t.step("inline PEM text in VONAGE_PRIVATE_KEY", async () => {
    const pem = pkcs1Pem(TEST_PRIVATE_KEY);
    const message = await assertUsageError(
      runSendCommand(
        args,
        fakeIo({ VONAGE_APPLICATION_ID: TEST_APPLICATION_ID, VONAGE_PRIVATE_KEY: pem }).io,
      ),
      /^the private key in VONAGE_PRIVATE_KEY is not usable: .*PKCS#1/,
    );
    for (const line of keyMaterial(pem)) assert.ok(!message.includes(line.slice(0, 16)));
  });
});

Deno.test("runSendCommand() refuses a missing recipients file and unjournaled standard input", async () => {
  await using dir = await tempDir();
  const common = ["--text", "hi", "--from", "Acme"];
  await assertUsageError(
    runSendCommand([`${dir.path}/missing.csv`, ...common], fakeIo().io),
    /^cannot read .*missing\.csv: no such file$/,
  );
  await assertUsageError(
    runSendCommand([dir.path, ...common], fakeIo().io),
    /it is a directory, not a recipients file/,
  );
  await assertUsageError(
    runSendCommand(["-", ...common], fakeIo().io),
    /standard input: pass --journal FILE .*or --no-journal/,
  );
  // Nothing was created on the way.
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("runSendCommand() --dry-run shows the first messages and the duration, sends nothing", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock();
  const file = await recipientsFile(dir.path, 10);
  const { io, stdout, stderr } = fakeIo();

  const code = await runSendCommand(
    [
      file,
      "--text",
      "Hello there",
      "--from",
      "Acme",
      "--rate",
      "2",
      "--base-url",
      server.url,
      "--dry-run",
    ],
    io,
  );

  assert.equal(code, 0);
  assert.deepEqual(stderr, []);
  assert.equal(stdout[0], `dry run: 10 recipients in ${file}`);
  assert.deepEqual(stdout.slice(1, 4), [
    '  to 14155550000 from Acme: "Hello there" (GSM-7, 1 segment)',
    '  to 14155550001 from Acme: "Hello there" (GSM-7, 1 segment)',
    '  to 14155550002 from Acme: "Hello there" (GSM-7, 1 segment)',
  ]);
  assert.equal(stdout[4], "segments: 10 in total (10 messages in GSM-7, 0 in UCS-2)");
  // (10 - 1) / 2 s: the burst of 1 goes at once.
  assert.match(stdout[5]!, /at 2\/s this takes about 4\.5 s\. Nothing sent\.$/);
  assert.equal(stdout.length, 6);
  assert.equal(server.stats().arrivals, 0);
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((entry) => entry.name), ["recipients.txt"]);
});

Deno.test("runSendCommand() sends in-process, resumes its journal, refuses it for another text", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0 });
  const file = await recipientsFile(dir.path, 3);
  const journal = `${dir.path}/recipients.txt.journal.jsonl`;
  const common = [file, "--from", "Acme", "--base-url", server.url, "--rate", "100", "--quiet"];
  const first = fakeIo();

  assert.equal(await runSendCommand([...common, "--text", "Hello", "--json"], first.io), 0);

  const summary = JSON.parse(first.stdout.join("\n"));
  assert.equal(summary.accepted, 3);
  assert.equal(summary.journal, journal);
  assert.equal(server.stats().accepted, 3);
  assert.deepEqual(first.stderr, []);

  // The same send again: the journal skips all three and says what it resumed.
  const again = fakeIo();
  assert.equal(await runSendCommand([...common, "--text", "Hello", "--json"], again.io), 0);
  const resumed = JSON.parse(again.stdout.join("\n"));
  assert.equal(resumed.skipped, 3);
  assert.deepEqual(resumed.previous, { accepted: 3, failed: 0, uncertain: 0, pending: 0 });
  assert.deepEqual(again.stderr, [
    `resuming ${journal}: earlier runs left 3 accepted, 0 failed, 0 uncertain, 0 pending; ` +
    "skipping the accepted, failed and uncertain",
  ]);

  const message = await assertUsageError(
    runSendCommand([...common, "--text", "Goodbye"], fakeIo().io),
    /different message text/,
  );
  assert.ok(message.includes(journal), "names the journal");
  assert.match(message, /Use another --journal FILE, or delete .* to start over/);
  assert.equal(server.stats().arrivals, 3);
});

Deno.test("main.ts send exits 2 with one 'politely:' line and no stack trace for user mistakes", async (t) => {
  await using dir = await tempDir();
  const file = await recipientsFile(dir.path, 3);
  await Deno.writeTextFile(`${dir.path}/pkcs1.key`, pkcs1Pem(TEST_PRIVATE_KEY));
  const journal = `${dir.path}/other.journal.jsonl`;
  await Deno.writeTextFile(
    journal,
    JSON.stringify({
      type: "header",
      version: 1,
      from: "Acme",
      textHash: "sha256:" + "0".repeat(64),
      createdAt: "2026-01-01T00:00:00.000Z",
    }) + "\n" +
      JSON.stringify({ type: "accepted", to: "14155550000", messageUuid: "u", at: "2026" }) + "\n",
  );
  const common = ["--text", "hi", "--from", "Acme"];
  const cases: Array<[string, string[], Readonly<Record<string, string>>, RegExp]> = [
    ["unknown flag", [file, ...common, "--rat", "5"], TEST_CREDENTIALS, /unknown option '--rat'/],
    ["missing --from", [file, "--text", "hi"], TEST_CREDENTIALS, /no sender/],
    [
      "missing key",
      [file, ...common],
      { VONAGE_APPLICATION_ID: TEST_APPLICATION_ID },
      /no private key/,
    ],
    [
      "PKCS#1 key",
      [file, ...common],
      {
        VONAGE_APPLICATION_ID: TEST_APPLICATION_ID,
        VONAGE_PRIVATE_KEY_PATH: `${dir.path}/pkcs1.key`,
      },
      /not usable: .*PKCS#1/,
    ],
    ["missing file", [`${dir.path}/none.csv`, ...common], TEST_CREDENTIALS, /no such file/],
    [
      "journal of another text",
      [file, ...common, "--journal", journal],
      TEST_CREDENTIALS,
      /different/,
    ],
  ];
  for (const [name, args, env, pattern] of cases) {
    await t.step(name, async () => {
      const run = await spawnSend(args, env);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, "");
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, /^politely: /);
      assert.match(lines[0]!, pattern);
      assert.doesNotMatch(run.stderr, /^\s+at |stack|POLITELY_DEBUG/m);
    });
  }
  await t.step("--help exits 0", async () => {
    const run = await spawnSend(["--help"], {});
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: main\.ts send/);
    assert.equal(run.stderr, "");
  });
});

Deno.test("runSendCommand() says once that --text is missing, and where a journal cannot go", async () => {
  await using dir = await tempDir();
  const file = await recipientsFile(dir.path, 50);
  const noText = fakeIo();
  await assertUsageError(
    runSendCommand([file, "--from", "Acme", "--dry-run"], noText.io),
    /^no message text: pass --text "\.\.\." \(.*recipients\.txt has no text for line 1/,
  );
  assert.deepEqual(noText.stderr, [], "no line-by-line report for a missing flag");

  const common = [file, "--from", "Acme", "--text", "hi"];
  await assertUsageError(
    runSendCommand([...common, "--journal", `${dir.path}/missing/j.jsonl`], fakeIo().io),
    /^Cannot open the journal .*missing\/j\.jsonl: its directory does not exist\. Pass --journal FILE/,
  );
  await assertUsageError(
    runSendCommand([...common, "--journal", dir.path], fakeIo().io),
    /it is a directory\. Pass --journal FILE/,
  );
  // A dry run checks the place too, without writing anything.
  await assertUsageError(
    runSendCommand([...common, "--dry-run", "--journal", `${dir.path}/missing/j`], fakeIo().io),
    /no such directory/,
  );
});

Deno.test("runSendCommand() --dry-run --json counts segments, encodings and cost, and warns about UCS-2", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock();
  const file = `${dir.path}/people.csv`;
  await Deno.writeTextFile(
    file,
    "to,name,text\n" +
      "(415) 555-0100,Ada,\n" +
      `(415) 555-0101,Bob,"It’s ${"x".repeat(70)}"\n` +
      "(415) 555-0102,Cyd,\n",
  );
  const { io, stdout, stderr } = fakeIo();
  const code = await runSendCommand([
    file,
    "--text",
    "Hello {{name}}, " + "a".repeat(180),
    "--from",
    "Acme",
    "--default-country",
    "us",
    "--price-per-segment",
    "0.0075",
    "--base-url",
    server.url,
    "--dry-run",
    "--json",
  ], io);
  assert.equal(code, 0);
  assert.deepEqual(stderr, [
    `warning: ${file}:3: the message goes as UCS-2 because of "’" (U+2019) at character 3 ` +
    "(write ' instead): 2 parts instead of 1",
  ]);
  const report = JSON.parse(stdout.join("\n"));
  // Two 191-character GSM-7 texts take 2 parts each; the 75-unit UCS-2 one takes 2.
  assert.equal(report.segments, 6);
  assert.deepEqual(report.encodings, { "GSM-7": 2, "UCS-2": 1 });
  assert.equal(report.estimatedCost, 0.045);
  assert.equal(report.defaultCountry, "US");
  assert.deepEqual(report.first.map((m: { to: string; segments: number }) => [m.to, m.segments]), [
    ["14155550100", 2],
    ["14155550101", 2],
    ["14155550102", 2],
  ]);
  assert.equal(report.first[0].text, "Hello Ada, " + "a".repeat(180));
  assert.equal(server.stats().arrivals, 0);
});

Deno.test("runSendCommand() refuses national numbers without --default-country, naming FILE:LINE", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/people.csv`;
  await Deno.writeTextFile(file, "to\n+1 415 555 0100\n(415) 555-2671\n");
  const { io, stderr } = fakeIo();
  await assertUsageError(
    runSendCommand([file, "--text", "Hi", "--from", "Acme", "--dry-run"], io),
    /^1 invalid line in .*people\.csv; nothing sent/,
  );
  assert.deepEqual(stderr, [
    `${file}:3: "(415) 555-2671" is not a valid number read as international (+41 Switzerland): ` +
    "too short; if these are national numbers, pass --default-country",
  ]);
});

Deno.test("runSendCommand() stops at the header when --text names a column the file lacks", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/people.csv`;
  await Deno.writeTextFile(file, "to,name\n+1 415 555 0100,Ada\n");
  const { io, stderr } = fakeIo();
  await assertUsageError(
    runSendCommand([file, "--text", "Hi {{first}}", "--from", "Acme", "--dry-run"], io),
    /^--text names a column .*people\.csv does not have; nothing sent$/,
  );
  assert.deepEqual(stderr, [
    `${file}:1: the message uses {{first}}, but the CSV header has no such column (found ` +
    '"to", "name"); fix the placeholder or add the column',
  ]);
});
