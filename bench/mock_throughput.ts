/**
 * How many requests per second the mock Vonage Messages API serves over
 * loopback on this machine, with rate limiting off and on.
 *
 *   deno run -A bench/mock_throughput.ts [--seconds 5] [--connections 32]
 *
 * The load comes from a separate process: `wrk` when it is installed (POSTs a
 * signed SMS over keep-alive connections), else this same file run with
 * `--load`, which keeps `--connections` fetch loops busy. Every request carries
 * a valid RS256 token, so each one pays for a signature check.
 *
 * Modes:
 * - no rate limit: auth, validation, 202;
 * - bucket consulted: a limit of 1,000,000/s that throttles nothing, to show the
 *   token bucket's cost;
 * - 100/s limit: nearly every answer is a 429 (its body is never read);
 * - through the drop front: `dropRate` > 0 (but so small nothing is dropped),
 *   to show what the TCP front that makes real drops possible costs.
 */

import { parseArgs } from "node:util";
import { importPKCS8, SignJWT } from "../lib/deps/jose.ts";
import { serveMockVonage, type ServeMockVonageOptions } from "../lib/mock/mod.ts";

const SMS = { message_type: "text", channel: "sms", to: "447700900001", from: "Acme", text: "Hi" };
const APP_ID = "bench-app";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    load: { type: "string" },
    token: { type: "string" },
    "no-wrk": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

if (values.load !== undefined) {
  // Child role: the fetch load generator.
  console.log(
    JSON.stringify(await fetchLoad(values.load, values.token ?? "", seconds, connections)),
  );
  Deno.exit(0);
}

/** Keep `connections` fetch loops busy for `seconds`; count answers by status. */
async function fetchLoad(
  url: string,
  token: string,
  seconds: number,
  connections: number,
): Promise<{ requests: number; seconds: number; errors: number }> {
  const body = JSON.stringify(SMS);
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const startMs = performance.now();
  const endMs = startMs + seconds * 1000;
  let requests = 0, errors = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < endMs) {
      try {
        const response = await fetch(url, { method: "POST", headers, body });
        await response.arrayBuffer();
        requests++;
      } catch {
        errors++;
      }
    }
  }));
  return { requests, seconds: (performance.now() - startMs) / 1000, errors };
}

async function hasWrk(): Promise<boolean> {
  if (values["no-wrk"]) return false;
  try {
    // wrk has no clean --version (it exits 1); being found on PATH is what matters.
    await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

async function runWrk(url: string, token: string, seconds: number): Promise<number> {
  const script = await Deno.makeTempFile({ suffix: ".lua" });
  try {
    await Deno.writeTextFile(
      script,
      [
        'wrk.method = "POST"',
        `wrk.body = ${JSON.stringify(JSON.stringify(SMS))}`,
        'wrk.headers["Content-Type"] = "application/json"',
        `wrk.headers["Authorization"] = "Bearer ${token}"`,
      ].join("\n"),
    );
    const { stdout } = await new Deno.Command("wrk", {
      args: ["-t2", `-c${connections}`, `-d${seconds}s`, "-s", script, url],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(stdout);
    const match = /Requests\/sec:\s+([\d.]+)/.exec(text);
    if (!match) throw new Error(`could not read wrk's output:\n${text}`);
    return Number(match[1]);
  } finally {
    await Deno.remove(script);
  }
}

async function runFetchLoad(url: string, token: string, seconds: number): Promise<number> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      new URL(import.meta.url).pathname,
      "--load",
      url,
      "--token",
      token,
      "--seconds",
      String(seconds),
      "--connections",
      String(connections),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const result = JSON.parse(new TextDecoder().decode(stdout));
  return result.requests / result.seconds;
}

const publicKey = await Deno.readTextFile(new URL("../fixtures/test_public.pem", import.meta.url));
const privateKey = await importPKCS8(
  await Deno.readTextFile(new URL("../fixtures/test_private.key", import.meta.url)),
  "RS256",
);
const token = await new SignJWT({ application_id: APP_ID })
  .setProtectedHeader({ alg: "RS256", typ: "JWT" })
  .setIssuedAt()
  .setJti(crypto.randomUUID())
  .setExpirationTime("1h")
  .sign(privateKey);

const useWrk = await hasWrk();
const generate = useWrk ? runWrk : runFetchLoad;
const modes: Array<[string, Partial<ServeMockVonageOptions>]> = [
  ["no rate limit", { ratePerSecond: 0 }],
  ["bucket consulted (1,000,000/s)", { ratePerSecond: 1_000_000, burst: 1_000_000 }],
  ["100/s limit: mostly 429", { ratePerSecond: 100, burst: 1 }],
  ["through the drop front (no drops)", { ratePerSecond: 0, dropRate: 1e-12 }],
];

console.log(
  `mock throughput over loopback: ${useWrk ? "wrk -t2" : "fetch loops in a child process"}, ` +
    `${connections} connections, ${seconds} s per mode, ${navigator.hardwareConcurrency} CPUs\n`,
);
console.log(
  `${"mode".padEnd(36)}${"req/s".padStart(10)}${"202/s".padStart(10)}${"429/s".padStart(10)}`,
);
for (const [name, options] of modes) {
  await using server = await serveMockVonage({
    publicKey,
    applicationId: APP_ID,
    maxStoredMessages: 1_000,
    ...options,
  });
  const url = `${server.url}/v1/messages`;
  await generate(url, token, 1); // warm up: JIT, connections, key import
  const before = server.stats();
  const requestsPerSecond = await generate(url, token, seconds);
  const after = server.stats();
  const rate = (key: string) =>
    ((after.byStatus[key] ?? 0) - (before.byStatus[key] ?? 0)) / seconds;
  console.log(
    `${name.padEnd(36)}${Math.round(requestsPerSecond).toLocaleString("en").padStart(10)}` +
      `${Math.round(rate("202")).toLocaleString("en").padStart(10)}` +
      `${Math.round(rate("429")).toLocaleString("en").padStart(10)}`,
  );
}
