/**
 * Serving the receipts app on a socket: loopback by default, since a status URL reached
 * from the internet is normally a tunnel or a reverse proxy in front of it.
 *
 * @module
 */

import { createReceiptsApp, type ReceiptsAppOptions, type ReceiptsStats } from "./receipts_app.ts";

/**
 * Options for {@linkcode serveReceipts}: the app's, plus where to listen.
 *
 * @example On a free loopback port
 * ```ts
 * import type { ServeReceiptsOptions } from "./serve_receipts.ts";
 *
 * const options: ServeReceiptsOptions = {
 *   journals: ["people.csv.journal.jsonl"],
 *   signatureSecret: "the account's signature secret",
 *   port: 0,
 * };
 * console.log(options.hostname ?? "127.0.0.1");
 * ```
 */
export interface ServeReceiptsOptions extends ReceiptsAppOptions {
  /**
   * The TCP port; 0 picks a free one.
   *
   * @default {0}
   */
  port?: number;
  /**
   * The address to listen on; `0.0.0.0` to be reachable from other machines.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
}

/**
 * A running receipts server; `await using` shuts it down.
 *
 * @example Stopping it
 * ```ts ignore
 * import { serveReceipts } from "./serve_receipts.ts";
 *
 * const server = await serveReceipts({ journals: ["a.journal.jsonl"], signatureSecret: "s" });
 * console.log(server.url);
 * await server.shutdown();
 * ```
 */
export interface ReceiptsServer extends AsyncDisposable {
  /** Its base URL, e.g. `http://127.0.0.1:8788`; webhooks may be posted to any path. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** What `GET /stats` answers. */
  stats(): ReceiptsStats;
  /** Stop listening, let webhooks in flight be written and answered, close the files. */
  shutdown(): Promise<void>;
}

/**
 * Start the receipts server and resolve once it listens.
 *
 * @throws {Deno.errors.AddrInUse} if the port is taken, and what
 * {@linkcode createReceiptsApp} throws.
 *
 * @example Receiving for one campaign
 * ```ts ignore
 * import { serveReceipts } from "./serve_receipts.ts";
 *
 * await using server = await serveReceipts({
 *   journals: ["people.csv.journal.jsonl"],
 *   signatureSecret: Deno.env.get("VONAGE_SIGNATURE_SECRET")!,
 *   port: 8788,
 * });
 * ```
 */
export async function serveReceipts(options: ServeReceiptsOptions): Promise<ReceiptsServer> {
  const { port = 0, hostname = "127.0.0.1", ...appOptions } = options;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new RangeError(
      `Cannot serve receipts: 'port' must be an integer from 0 to 65535, current value is ${port}`,
    );
  }
  const receipts = await createReceiptsApp(appOptions);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname, port, onListen() {} },
      (request) => receipts.app.fetch(request),
    );
  } catch (error: unknown) {
    await receipts.close();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    stopped ??= (async () => {
      await server.shutdown();
      await receipts.close();
    })();
  const host = hostname === "0.0.0.0"
    ? "127.0.0.1"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  return {
    url: `http://${host}:${server.addr.port}`,
    port: server.addr.port,
    stats: receipts.stats,
    shutdown: stop,
    [Symbol.asyncDispose]: stop,
  };
}
