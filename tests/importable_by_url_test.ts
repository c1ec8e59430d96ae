// Every entry point must work when imported from a plain URL, where the caller has
// no import map of ours: serve the repo over HTTP and import each by URL from a
// subprocess that has no deno.json.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Each entry point in deno.json's exports, and names it must export. */
const entryPoints: Record<string, string[]> = {
  "mod.ts": ["FakeClock", "realClock", "TokenBucket", "retry", "politeFetch"],
  "lib/vonage/mod.ts": ["createVonageClient", "mintVonageJwt", "VonageTokenSource"],
  "lib/send/mod.ts": ["readRecipients", "Journal", "runSendJob", "Progress"],
  "lib/redis/mod.ts": ["RedisLimiter", "RedisWorkQueue", "SharedSend"],
  "lib/mock/mod.ts": ["createMockVonage", "serveMockVonage", "StatusWebhookSender"],
  "lib/receipts/mod.ts": ["serveReceipts", "makeDeliveryReport", "ReceiptsFile"],
};

Deno.test("every entry point imports and type-checks from a plain http URL with no import map", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    // deno.json too: the version (lib/core/version.ts) is imported from it as JSON.
    const json = path === "/deno.json";
    if (path.includes("..") || !(path.endsWith(".ts") || json)) {
      return new Response("no", { status: 404 });
    }
    try {
      const body = await Deno.readFile(join(repoRoot, path));
      const type = json ? "application/json" : "application/typescript";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
  const cwd = await Deno.makeTempDir();
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const script = `
      const names = {};
      for (const path of ${JSON.stringify(Object.keys(entryPoints))}) {
        names[path] = Object.keys(await import("http://${host}/" + path));
      }
      console.log(JSON.stringify(names));
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", `--allow-import=${host}`, script],
      cwd,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    const names: Record<string, string[]> = JSON.parse(new TextDecoder().decode(output.stdout));
    for (const [path, expected] of Object.entries(entryPoints)) {
      for (const name of expected) assert.ok(names[path]?.includes(name), `${path}: ${name}`);
    }
    const exports: Record<string, string> = JSON.parse(
      await Deno.readTextFile(join(repoRoot, "deno.json")),
    ).exports;
    assert.deepEqual(
      Object.values(exports).map((path) => path.replace(/^\.\//, "")).sort(),
      Object.keys(entryPoints).sort(),
      "the test covers every entry point in deno.json",
    );

    // Type-checking too: a bare specifier used only for types would load fine but fail here.
    // `--all` checks our remote modules as well. The Redis entry is checked without it:
    // @redis/client's own declarations name Node's types, which only a config resolves, and
    // a user's plain `deno check` never checks a dependency's declarations anyway.
    const typeCheck = async (paths: string[], all: boolean) => {
      const user = `${cwd}/user_${all ? "all" : "plain"}.ts`;
      const imports = paths.map((path, i) =>
        `import * as entry${i} from "http://${host}/${path}";`
      );
      const uses = paths.map((_, i) => `entry${i}`).join(", ");
      await Deno.writeTextFile(
        user,
        `import { TokenBucket } from "http://${host}/mod.ts";\n${imports.join("\n")}\n` +
          `const bucket: TokenBucket = new TokenBucket({ ratePerSecond: 1 });\n` +
          `console.log(bucket.burst, ${uses});\n`,
      );
      const check = await new Deno.Command(Deno.execPath(), {
        args: ["check", ...(all ? ["--all"] : []), "--no-config", `--allow-import=${host}`, user],
        cwd,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    };
    const paths = Object.keys(entryPoints);
    await typeCheck(paths.filter((path) => path !== "lib/redis/mod.ts"), true);
    await typeCheck(paths, false);
  } finally {
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});
