import assert from "node:assert/strict";
import { importPKCS8, SignJWT } from "../lib/deps/jose.ts";
import { DEFAULT_MOCK_APP_ID, MOCK_USAGE, runMockCommand } from "../lib/cli/mock_command.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { serveMockVonage } from "../lib/mock/mod.ts";
import { readReceipts } from "../lib/receipts/receipts_file.ts";
import { serveReceipts } from "../lib/receipts/serve_receipts.ts";
import { hashMessageText, Journal } from "../lib/send/journal.ts";

const root = new URL("../", import.meta.url);
const fixture = (name: string) => new URL(`fixtures/${name}`, root).pathname;
const SMS = { message_type: "text", channel: "sms", to: "447700900001", from: "Acme", text: "Hi" };

async function signedRequest(url: string, privateKeyPem: string, applicationId: string) {
  const key = await importPKCS8(privateKeyPem, "RS256");
  const token = await new SignJWT({ application_id: applicationId })
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime("15m")
    .sign(key);
  return await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(SMS),
  });
}

/** Run the command in-process; resolves its URL once the first line is printed. */
function start(args: string[]) {
  const lines: string[] = [];
  const controller = new AbortController();
  let announce: (url: string) => void = () => {};
  const listening = new Promise<string>((resolve) => (announce = resolve));
  const done = runMockCommand(args, {
    signal: controller.signal,
    stdout: (line) => {
      lines.push(line);
      const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
      if (url) announce(url);
    },
  });
  return { lines, listening, done, stop: () => controller.abort() };
}

Deno.test("runMockCommand() --help explains every flag and exits 0", async () => {
  const lines: string[] = [];
  assert.equal(await runMockCommand(["--help"], { stdout: (line) => lines.push(line) }), 0);
  const help = lines.join("\n");
  assert.equal(help, MOCK_USAGE);
  for (
    const flag of [
      "--port",
      "--rate",
      "--burst",
      "--public-key",
      "--write-private-key",
      "--app-id",
      "--retry-after",
      "--ratelimit-headers",
      "--fail-rate",
      "--drop-rate",
      "--fail-status",
      "--latency",
      "--seed",
      "--signature-secret",
      "--status-url",
      "--status-delay",
      "--rejected-rate",
      "--undeliverable-rate",
      "--price",
      "--currency",
      "--help",
    ]
  ) {
    assert.ok(help.includes(flag), `help mentions ${flag}`);
  }
});

Deno.test("runMockCommand() refuses bad flags with a UsageError naming the problem", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /^mock: unknown option '--bogus'; see 'main.ts mock --help'$/],
    [["extra"], /Unexpected argument 'extra'/],
    [["--port"], /--port/],
    [["--port", "70000"], /--port must be a port number from 0 to 65535 .*, got '70000'/],
    [["--port", "80.5"], /--port must be a port number/],
    [["--rate", "fast"], /--rate must be a number of requests per second, 0 for no limit/],
    [["--rate=-1"], /--rate must be/],
    [["--burst", "0"], /--burst must be a number of at least 1/],
    [["--fail-rate", "1.5"], /--fail-rate must be a share from 0 to 1/],
    [["--drop-rate", "0.7", "--fail-rate", "0.4"], /add up to 1\.1/],
    [["--fail-status", "418"], /--fail-status must be 500, 502, 503, 504 or 402, got "418"/],
    [
      ["--latency", "-5"],
      /--latency needs a value, but '-5' looks like a flag; write --latency=VALUE/,
    ],
    [["--latency=-5"], /--latency must be a number of milliseconds/],
    [["--seed", "x"], /--seed must be an integer/],
    [["--app-id", " "], /--app-id must not be empty/],
    [["--public-key", "a.pem", "--write-private-key", "b.key"], /give one or the other/],
    [["--port", "0", "--public-key", "/nonexistent/key.pem"], /cannot read --public-key/],
    [["--port", "0", "--public-key", fixture("test_private.key")], /--public-key .*SPKI PEM/],
    [["--undeliverable-rate", "0.05"], /--undeliverable-rate is about status webhooks/],
    [["--signature-secret", "s", "--status-url", "ftp://x"], /--status-url must be an http/],
    [["--signature-secret", "s", "--rejected-rate", "2"], /--rejected-rate must be a share/],
    [
      ["--signature-secret", "s", "--rejected-rate", "0.6", "--undeliverable-rate", "0.5"],
      /add up to 1\.1/,
    ],
    [["--signature-secret", "s", "--price", "1,50"], /--price must be a decimal amount/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      await assert.rejects(runMockCommand(args, { stdout: () => {} }), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes("\n"), "one line");
        return true;
      });
    });
  }
});

Deno.test("runMockCommand() refuses a port in use with a UsageError", async () => {
  await using other = await serveMockVonage({
    publicKey: await Deno.readTextFile(fixture("test_public.pem")),
    applicationId: "x",
  });
  await assert.rejects(
    runMockCommand(["--port", String(other.port)], { stdout: () => {} }),
    /port \d+ is already in use; pick another with --port/,
  );
});

Deno.test("runMockCommand() makes a key pair, writes the private key 0600, serves until stopped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keyPath = `${dir}/mock.key`;
    const run = start(["--port", "0", "--rate", "5", "--write-private-key", keyPath]);
    const url = await run.listening;
    assert.match(
      run.lines[0]!,
      /^mock Vonage Messages API listening on http:\/\/127\.0\.0\.1:\d+ \(rate 5\/s, burst 1\)$/,
    );
    assert.ok(run.lines.some((line) => line.includes(`application id: ${DEFAULT_MOCK_APP_ID}`)));
    const pem = await Deno.readTextFile(keyPath);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal((await Deno.stat(keyPath)).mode! & 0o777, 0o600);

    const accepted = await signedRequest(url, pem, DEFAULT_MOCK_APP_ID);
    assert.equal(accepted.status, 202);
    await accepted.body?.cancel();
    const foreign = await signedRequest(
      url,
      await Deno.readTextFile(fixture("test_private.key")),
      DEFAULT_MOCK_APP_ID,
    );
    assert.equal(foreign.status, 401);
    await foreign.body?.cancel();

    run.stop();
    assert.equal(await run.done, 0);
    assert.equal(run.lines.at(-1), "stopped: 2 requests, 1 accepted, 0 throttled");
    assert.ok((await Deno.stat(keyPath)).isFile, "a key written where asked stays");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runMockCommand() without a key flag uses a temporary key file and removes it at exit", async () => {
  const run = start(["--port", "0", "--rate", "0", "--fail-rate", "0.1", "--seed", "9"]);
  const url = await run.listening;
  assert.match(run.lines[0]!, /\(no rate limit\)$/);
  assert.ok(run.lines.some((line) => /faults: +500 for 10%, seed 9/.test(line)));
  const keyPath = /private key: +(\S+)/.exec(run.lines.join("\n"))?.[1];
  assert.ok(keyPath);
  const response = await signedRequest(url, await Deno.readTextFile(keyPath), DEFAULT_MOCK_APP_ID);
  assert.ok([202, 500].includes(response.status));
  await response.body?.cancel();
  run.stop();
  assert.equal(await run.done, 0);
  await assert.rejects(Deno.stat(keyPath), Deno.errors.NotFound);
});

Deno.test("runMockCommand() verifies tokens with --public-key and --app-id", async () => {
  const run = start([
    "--port",
    "0",
    "--public-key",
    fixture("test_public.pem"),
    "--app-id",
    "my-app",
  ]);
  const url = await run.listening;
  const privateKey = await Deno.readTextFile(fixture("test_private.key"));
  const accepted = await signedRequest(url, privateKey, "my-app");
  assert.equal(accepted.status, 202);
  await accepted.body?.cancel();
  const wrongApp = await signedRequest(url, privateKey, DEFAULT_MOCK_APP_ID);
  assert.equal(wrongApp.status, 401);
  await wrongApp.body?.cancel();
  run.stop();
  assert.equal(await run.done, 0);
});

Deno.test("main.ts mock serves a real process that a client can use, and exits 0 on SIGINT", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keyPath = `${dir}/mock.key`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "mock", "--port", "0", "--write-private-key", keyPath],
      cwd: root.pathname,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    while (!/listening on http:\/\/\S+ \(.*\)\n/.test(output)) {
      const { done, value } = await lines.read();
      if (done) break;
      output += value;
    }
    const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
    assert.ok(url, `the first line names the URL, got ${JSON.stringify(output)}`);

    const response = await signedRequest(
      url,
      await Deno.readTextFile(keyPath),
      DEFAULT_MOCK_APP_ID,
    );
    assert.equal(response.status, 202);
    await response.body?.cancel();

    child.kill("SIGINT");
    for (;;) {
      const { done, value } = await lines.read();
      if (done) break;
      output += value;
    }
    const stderr = await new Response(child.stderr).text();
    const status = await child.status;
    assert.equal(status.code, 0, stderr);
    assert.match(output, /stopped: 1 requests, 1 accepted, 0 throttled/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runMockCommand() --signature-secret --status-url posts signed status webhooks that the receipts server records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const journalPath = `${dir}/a.journal.jsonl`;
    await (await Journal.open(journalPath, { from: "Acme", textHash: await hashMessageText("Hi") }))
      .close();
    await using receipts = await serveReceipts({
      journals: [journalPath],
      signatureSecret: "flag-secret",
    });
    const run = start([
      "--port",
      "0",
      "--public-key",
      fixture("test_public.pem"),
      "--signature-secret",
      "flag-secret",
      "--status-url",
      `${receipts.url}/hook`,
      "--status-delay",
      "0.05",
      "--price",
      "0.07",
      "--currency",
      "GBP",
    ]);
    const url = await run.listening;
    const privateKey = await Deno.readTextFile(fixture("test_private.key"));
    const accepted = await signedRequest(url, privateKey, DEFAULT_MOCK_APP_ID);
    assert.equal(accepted.status, 202);
    const { message_uuid } = await accepted.json();
    while (receipts.stats().recorded < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    run.stop();
    assert.equal(await run.done, 0);
    assert.ok(run.lines.some((line) => line.includes(`webhooks:       to ${receipts.url}/hook`)));
    const stored = await readReceipts(`${journalPath}.receipts.jsonl`);
    assert.deepEqual(stored.map((s) => [s.receipt.messageUuid, s.receipt.status]), [
      [message_uuid, "submitted"],
      [message_uuid, "delivered"],
    ]);
    assert.deepEqual(stored[0]!.receipt.price, { currency: "GBP", amount: "0.07" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Start `main.ts mock` without a key; resolves once it names its temporary key. */
async function startMockWithTemporaryKey(): Promise<
  { child: Deno.ChildProcess; keyPath: string; stop(signal: Deno.Signal): Promise<number> }
> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "mock", "--port", "0"],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!/private key: +\S+/.test(output)) {
    const { done, value } = await reader.read();
    if (done) break;
    output += value;
  }
  const keyPath = /private key: +(\S+)/.exec(output)?.[1];
  assert.ok(keyPath, output);
  const stop = async (signal: Deno.Signal): Promise<number> => {
    child.kill(signal);
    await reader.cancel();
    return (await child.status).code;
  };
  return { child, keyPath, stop };
}

Deno.test("main.ts mock removes its temporary key on SIGTERM and SIGHUP; the next mock removes one left by SIGKILL", async () => {
  if (Deno.build.os === "windows") return;
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    const { child, keyPath, stop } = await startMockWithTemporaryKey();
    assert.match(keyPath, new RegExp(`politely-mock-${child.pid}-.*\\.key$`));
    assert.equal((await Deno.stat(keyPath)).mode! & 0o777, 0o600);
    assert.equal(await stop(signal), 0, signal);
    await assert.rejects(Deno.stat(keyPath), Deno.errors.NotFound, `${signal} left ${keyPath}`);
  }

  const killed = await startMockWithTemporaryKey();
  await killed.stop("SIGKILL");
  await Deno.stat(killed.keyPath); // nothing could remove it

  const next = await startMockWithTemporaryKey();
  if (Deno.build.os === "linux") {
    await assert.rejects(Deno.stat(killed.keyPath), Deno.errors.NotFound);
  } else {
    await Deno.remove(killed.keyPath);
  }
  await next.stop("SIGTERM");
});
