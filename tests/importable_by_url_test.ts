// mod.ts must work when imported from a plain URL, where the caller's import map
// does not know our aliases: serve the repo over HTTP and import it by URL from a
// subprocess that has no deno.json.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

Deno.test("mod.ts imports from a plain http URL with no import map", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..") || !path.endsWith(".ts")) return new Response("no", { status: 404 });
    try {
      const body = await Deno.readFile(join(repoRoot, path));
      return new Response(body, { headers: { "content-type": "application/typescript" } });
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
  const cwd = await Deno.makeTempDir();
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const script = `
      const m = await import("http://${host}/mod.ts");
      console.log(JSON.stringify(Object.keys(m).sort()));
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
    const names: string[] = JSON.parse(new TextDecoder().decode(output.stdout));
    for (const name of ["FakeClock", "realClock", "TokenBucket", "retry", "politeFetch"]) {
      assert.ok(names.includes(name), name);
    }

    // Type-checking too: a bare specifier used only for types would load fine but fail here.
    const user = `${cwd}/user.ts`;
    await Deno.writeTextFile(
      user,
      `import { TokenBucket } from "http://${host}/mod.ts";\n` +
        "const bucket: TokenBucket = new TokenBucket({ ratePerSecond: 1 });\n" +
        "console.log(bucket.burst);\n",
    );
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--all", "--no-config", `--allow-import=${host}`, user],
      cwd,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  } finally {
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});
