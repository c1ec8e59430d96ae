// Deno users import libraries and run tools by URL, and install tools with
// `deno install -g`; none of that carries our deno.json. So: serve the published
// files over HTTP and, from processes that have no config of ours, import and
// type-check every entry point, run the command line, and install it and run it
// from another folder.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { importPKCS8, SignJWT } from "../lib/deps/jose.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Each entry point in deno.json's exports, and names it must export. */
const entryPoints: Record<string, string[]> = {
  "mod.ts": ["FakeClock", "realClock", "TokenBucket", "retry", "politeFetch"],
  "lib/vonage/mod.ts": ["createVonageClient", "mintVonageJwt", "VonageTokenSource"],
  "lib/send/mod.ts": ["readRecipients", "Journal", "runSendJob", "Progress"],
  "lib/redis/mod.ts": ["RedisLimiter", "RedisWorkQueue", "SharedSend"],
  "lib/mock/mod.ts": ["createMockVonage", "serveMockVonage", "StatusWebhookSender"],
  "lib/receipts/mod.ts": ["serveReceipts", "makeDeliveryReport", "ReceiptsFile"],
  // The command line: it runs only as the main module, and exports nothing.
  "main.ts": [],
};

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".json": "application/json",
};

/**
 * The repository over HTTP on a free loopback port, as the published package
 * would be: only what deno.json's `publish.include` names (a file the code reads
 * from beside itself, but that is not published, fails here as it would from JSR).
 */
async function servePackage(): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const include: string[] = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json")))
    .publish.include;
  const published = (path: string): boolean =>
    include.some((entry) => entry.endsWith("/") ? path.startsWith(entry) : path === entry);
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname).slice(1);
    if (path.split("/").includes("..") || !published(path)) {
      return new Response("not published", { status: 404 });
    }
    try {
      const body = await Deno.readFile(join(repoRoot, path));
      const type = CONTENT_TYPES[/\.[a-z]+$/.exec(path)?.[0] ?? ""] ?? "text/plain";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** The environment of a user's shell: `deno` on the PATH, no colour, and nothing of ours. */
function userEnv(): Record<string, string> {
  return {
    NO_COLOR: "1",
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
  };
}

async function run(command: string, args: string[], cwd: string): Promise<Output> {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    env: userEnv(),
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/**
 * Start `mock --port 0` with `command args`, wait for its listening line, send it
 * one signed message (the key it made and printed), read /stats, then stop it
 * with Ctrl-C (SIGINT) and check that it said so and removed its temporary key.
 */
async function exerciseMock(command: string, args: string[], cwd: string): Promise<void> {
  const child = new Deno.Command(command, {
    args: [...args, "mock", "--port", "0"],
    cwd,
    env: userEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string | undefined> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    lines.push(line);
    return line;
  };
  try {
    let line: string | undefined;
    while ((line = await nextLine()) !== undefined && !line.startsWith("Press Ctrl-C")) {
      // Read up to the last line of the greeting.
    }
    const greeting = lines.join("\n");
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(greeting)?.[1];
    const keyPath = /private key: +(\S+) \(made at start, removed at exit\)/.exec(greeting)?.[1];
    // (Its stderr is read only once it has exited: awaiting it here would wait forever.)
    assert.ok(url && keyPath, `the mock's greeting:\n${greeting}`);

    const key = await importPKCS8(await Deno.readTextFile(keyPath), "RS256");
    const token = await new SignJWT({ application_id: "politely-mock-app" })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuedAt()
      .setJti(crypto.randomUUID())
      .setExpirationTime("5m")
      .sign(key);
    const sent = await fetch(`${url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        message_type: "text",
        channel: "sms",
        to: "447700900001",
        from: "Acme",
        text: "Hi",
      }),
    });
    const answer = await sent.text();
    assert.equal(sent.status, 202, answer);
    assert.match(JSON.parse(answer).message_uuid, /^[0-9a-f-]{36}$/);
    const stats = await (await fetch(`${url}/stats`)).json();
    assert.equal(stats.accepted, 1);

    child.kill("SIGINT");
    while ((line = await nextLine()) !== undefined) {
      // Read to the end: the line it prints when it stops.
    }
    const status = await child.status;
    assert.equal(status.code, 0, `${lines.join("\n")}\n${await stderr}`);
    assert.equal(lines.at(-1), "stopped: 1 requests, 1 accepted, 0 throttled");
    await assert.rejects(Deno.stat(keyPath), Deno.errors.NotFound, "the temporary key is removed");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has exited.
    }
    await reader.cancel().catch(() => {});
    await child.status;
    await stderr;
  }
}

Deno.test("by URL with no config: every entry point imports and type-checks, the command line runs and installs", async (t) => {
  const server = await servePackage();
  const cwd = await Deno.makeTempDir({ prefix: "politely_user_" });
  const host = `127.0.0.1:${server.addr.port}`;
  const { version } = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json")));
  try {
    await t.step("every entry point imports", async () => {
      const script = `
        const names = {};
        for (const path of ${JSON.stringify(Object.keys(entryPoints))}) {
          names[path] = Object.keys(await import("http://${host}/" + path));
        }
        console.log(JSON.stringify(names));
      `;
      const output = await run(
        Deno.execPath(),
        ["eval", "--no-config", `--allow-import=${host}`, script],
        cwd,
      );
      assert.equal(output.code, 0, output.stderr);
      const names: Record<string, string[]> = JSON.parse(output.stdout);
      for (const [path, expected] of Object.entries(entryPoints)) {
        assert.ok(names[path] !== undefined, `${path} imported`);
        for (const name of expected) assert.ok(names[path].includes(name), `${path}: ${name}`);
      }
      const exports: Record<string, string> = JSON.parse(
        await Deno.readTextFile(join(repoRoot, "deno.json")),
      ).exports;
      assert.deepEqual(
        Object.values(exports).map((path) => path.replace(/^\.\//, "")).sort(),
        Object.keys(entryPoints).sort(),
        "the test covers every entry point in deno.json",
      );
    });

    await t.step("every entry point type-checks", async () => {
      // A bare specifier used only for types would load fine but fail here. `--all`
      // checks our remote modules as well. The Redis entry, and main.ts that reaches
      // it through `send --redis`, are checked without it: @redis/client's own
      // declarations name Node's types, which only a config resolves, and a user's
      // plain `deno check` never checks a dependency's declarations anyway.
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
        const check = await run(
          Deno.execPath(),
          ["check", ...(all ? ["--all"] : []), "--no-config", `--allow-import=${host}`, user],
          cwd,
        );
        assert.equal(check.code, 0, check.stderr);
      };
      const paths = Object.keys(entryPoints);
      const reachRedis = ["lib/redis/mod.ts", "main.ts"];
      await typeCheck(paths.filter((path) => !reachRedis.includes(path)), true);
      await typeCheck(paths, false);
    });

    const byUrl = ["run", "--allow-all", "--no-config", `http://${host}/main.ts`];

    await t.step("main.ts --version by URL prints the version in deno.json", async () => {
      const output = await run(Deno.execPath(), [...byUrl, "--version"], cwd);
      assert.deepEqual(output, { code: 0, stdout: `politely ${version}\n`, stderr: "" });
    });

    await t.step("main.ts simulate article --out DIR by URL draws the charts", async () => {
      const out = join(cwd, "charts");
      const output = await run(
        Deno.execPath(),
        [...byUrl, "simulate", "article", "--out", out, "--quiet"],
        cwd,
      );
      assert.equal(output.code, 0, output.stderr);
      assert.match(output.stdout, /^article: 500 always-failing tasks/);
      for (const chart of ["article-calls.svg", "article-deadline.svg"]) {
        const svg = await Deno.readTextFile(join(out, chart));
        assert.match(svg, /^<svg[^>]*>/, chart);
        assert.ok(svg.length > 10_000, `${chart}: ${svg.length} characters`);
      }
    });

    await t.step(
      "main.ts mock --port 0 by URL serves a signed send and stops on Ctrl-C",
      async () => {
        await exerciseMock(Deno.execPath(), byUrl, cwd);
      },
    );

    await t.step(
      "deno install -g from the URL; the command runs from another folder (version, mock, simulate, demo)",
      async () => {
        const root = join(cwd, "root");
        const elsewhere = join(cwd, "elsewhere");
        await Deno.mkdir(elsewhere);
        const install = await run(
          Deno.execPath(),
          ["install", "-g", "-A", "-n", "politely", "--root", root, `http://${host}/main.ts`],
          cwd,
        );
        assert.equal(install.code, 0, install.stderr);
        const politely = join(root, "bin", "politely");
        const output = await run(politely, ["--version"], elsewhere);
        assert.deepEqual(output, { code: 0, stdout: `politely ${version}\n`, stderr: "" });
        await exerciseMock(politely, [], elsewhere);
        const simulated = await run(politely, ["simulate", "article", "--quiet"], elsewhere);
        assert.equal(simulated.code, 0, simulated.stderr);
        await Deno.stat(join(elsewhere, "simulations", "article-calls.svg"));
        // The demo's recipients and mock come with the code: no file of the repository needed.
        const demo = await run(politely, ["demo", "--rate", "100", "--json"], elsewhere);
        assert.equal(demo.code, 0, demo.stderr);
        const { recipients, runs } = JSON.parse(demo.stdout);
        assert.equal(recipients, 60);
        for (const { mode, serverAccepted, serverDistinct } of runs) {
          assert.deepEqual([serverAccepted, serverDistinct], [60, 60], mode);
        }
      },
    );
  } finally {
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});
