/**
 * Test helper: a private `redis-server` on a free loopback port, with no
 * persistence, stopped cleanly (so the test sanitizers see no leaked process).
 *
 * When `redis-server` is not installed, {@linkcode redisInstalled} is false and
 * tests use {@linkcode redisTest}, which registers them as ignored with a name
 * that says why, instead of failing.
 *
 * @module
 */

import { freePort } from "./free_port.ts";

/** The program to run; CI installs it with apt. */
export const REDIS_SERVER: string = Deno.env.get("REDIS_SERVER") ?? "redis-server";

async function findRedisServer(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(REDIS_SERVER, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** Whether `redis-server` can be started here. */
export const redisInstalled: boolean = await findRedisServer();

/**
 * `Deno.test`, but ignored (with the reason in its name) when `redis-server`
 * is missing.
 */
export function redisTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: redisInstalled ? name : `${name} [ignored: redis-server is not installed]`,
    ignore: !redisInstalled,
    fn,
  });
}

/** A running server; `await using` stops it. */
export interface RedisServer extends AsyncDisposable {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Stop the server (SHUTDOWN NOSAVE, else SIGTERM) and wait for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Send PING on a raw socket; true when the server answers +PONG. */
export async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const read = await conn.read(buffer);
    return read !== null && new TextDecoder().decode(buffer.subarray(0, read)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/** Ask the server to exit without saving; true if the request was sent. */
async function sendShutdown(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("SHUTDOWN NOSAVE\r\n"));
    // The server closes the connection as it exits.
    while (await conn.read(new Uint8Array(64)) !== null) { /* drain */ }
    return true;
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

/** Start `redis-server` on a free loopback port and wait until it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  // A port picked this way may be taken by someone else before redis binds it: try again.
  for (let attempt = 1;; attempt++) {
    const port = freePort();
    const child = new Deno.Command(REDIS_SERVER, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        // SHUTDOWN exits at once; SIGTERM is only acted on at redis' next tick (~100 ms).
        if (!exited && !(await sendShutdown(port))) {
          try {
            child.kill("SIGTERM");
          } catch { /* it exited meanwhile */ }
        }
        await status;
      })();
      return stopped;
    };
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) {
      if (await answersPing(port)) {
        return { url: `redis://127.0.0.1:${port}`, port, stop, [Symbol.asyncDispose]: stop };
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await stop();
    if (attempt >= 3) {
      throw new Error(
        `redis-server did not answer PING on 127.0.0.1:${port} (tried ${attempt} ports)`,
      );
    }
  }
}
