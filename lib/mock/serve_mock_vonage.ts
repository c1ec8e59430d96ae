/**
 * Serving the mock Vonage Messages API on a real socket, for clients that
 * must be tested over the network (the CLI's `main.ts mock`, end-to-end tests).
 *
 * @module
 */

import { DropFront } from "./drop_front.ts";
import type { MockVonageStats } from "./mock_stats.ts";
import {
  type AcceptedMessage,
  createMockVonage,
  DroppedConnectionError,
  type MockVonage,
  type MockVonageOptions,
} from "./mock_vonage.ts";

/**
 * Options for {@linkcode serveMockVonage}: the mock's, plus where to listen.
 *
 * @example Listening on any free loopback port
 * ```ts
 * import { serveMockVonage, type ServeMockVonageOptions } from "./serve_mock_vonage.ts";
 *
 * const options: ServeMockVonageOptions = {
 *   publicKey: await Deno.readTextFile("fixtures/test_public.pem"),
 *   applicationId: "app",
 *   hostname: "127.0.0.1",
 *   port: 0,
 * };
 * await using server = await serveMockVonage(options);
 * console.log(server.url.startsWith("http://127.0.0.1:")); // true
 * ```
 */
export interface ServeMockVonageOptions extends MockVonageOptions {
  /**
   * The TCP port; 0 picks a free one (read it back from `port` or `url`).
   *
   * @default {0}
   */
  port?: number;
  /**
   * The address to listen on. Loopback by default: the mock is for tests.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
}

/**
 * A running mock server. `await using` shuts it down at the end of the scope.
 *
 * @example Shutting the server down explicitly
 * ```ts
 * import { type MockVonageServer, serveMockVonage } from "./serve_mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const server: MockVonageServer = await serveMockVonage({ publicKey, applicationId: "app" });
 * try {
 *   const response = await fetch(`${server.url}/v1/messages`, { method: "POST" }); // no token
 *   await response.body?.cancel();
 *   console.log(server.stats().byStatus); // { "401": 1 }
 * } finally {
 *   await server.shutdown();
 * }
 * ```
 */
export interface MockVonageServer extends AsyncDisposable {
  /** Its base URL, e.g. `http://127.0.0.1:8787`; the API is at `${url}/v1/messages`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** What `GET /stats` reports. */
  stats(): MockVonageStats;
  /** What `GET /messages` lists. */
  messages(): AcceptedMessage[];
  /** What `GET /webhooks` answers: status webhook counts and planned outcomes. */
  webhooks(): ReturnType<MockVonage["webhooks"]>;
  /** Resolve once every status webhook scheduled so far is done. */
  webhooksIdle(): Promise<void>;
  /** Stop accepting, let requests in flight finish, close every connection. */
  shutdown(): Promise<void>;
}

/**
 * Start the mock on a socket and resolve once it listens.
 *
 * With `dropRate > 0` clients connect through a small TCP front that can close
 * a connection before any byte of the answer is written (see
 * {@linkcode DropFront}), so a real `fetch` rejects with a `TypeError`;
 * otherwise `Deno.serve` faces clients directly.
 *
 * @throws {Deno.errors.AddrInUse} if the port is taken, and whatever
 * {@linkcode createMockVonage} throws for bad options.
 *
 * @example A real server on a free port
 * ```ts
 * import { serveMockVonage } from "./serve_mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * await using server = await serveMockVonage({ publicKey, applicationId: "app", ratePerSecond: 30 });
 * const response = await fetch(`${server.url}/stats`);
 * console.log((await response.json()).arrivals); // 0
 * ```
 */
export async function serveMockVonage(options: ServeMockVonageOptions): Promise<MockVonageServer> {
  const { port = 0, hostname = "127.0.0.1", ...mockOptions } = options;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new RangeError(
      `Cannot serve mock Vonage: 'port' must be an integer from 0 to 65535, current value is ${port}`,
    );
  }
  const mock = await createMockVonage(mockOptions);
  const quiet = { onListen() {} };

  let listenPort: number;
  let shutdown: () => Promise<void>;
  if ((mockOptions.dropRate ?? 0) > 0) {
    let front: DropFront | undefined;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, ...quiet },
      async (request, info) => {
        try {
          return await mock.app.fetch(request);
        } catch (error: unknown) {
          if (error instanceof DroppedConnectionError && front?.drop(info.remoteAddr.port)) {
            // The socket is gone: this answer is never written.
            return new Response(null, { status: 500 });
          }
          throw error;
        }
      },
    );
    try {
      front = new DropFront({ hostname, port, upstreamPort: server.addr.port });
    } catch (error: unknown) {
      await server.shutdown();
      throw error;
    }
    const openFront = front;
    listenPort = front.port;
    shutdown = async () => {
      // The server first: it finishes requests in flight and closes idle
      // connections, which ends their pipes; the front then releases the rest.
      await server.shutdown();
      await openFront.close();
    };
  } else {
    const server = Deno.serve({ hostname, port, ...quiet }, (request) => mock.app.fetch(request));
    listenPort = server.addr.port;
    shutdown = () => server.shutdown();
  }

  let stopped: Promise<void> | undefined;
  // The socket first (no new acceptances), then the webhooks still waiting.
  const stop = (): Promise<void> => (stopped ??= shutdown().finally(mock.close));
  return {
    url: `http://${urlHost(hostname)}:${listenPort}`,
    port: listenPort,
    stats: mock.stats,
    messages: mock.messages,
    webhooks: mock.webhooks,
    webhooksIdle: mock.webhooksIdle,
    shutdown: stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** The host to put in a URL: a wildcard address is reached through loopback. */
function urlHost(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
