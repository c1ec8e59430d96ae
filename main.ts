/**
 * The politely command line: `deno run -A main.ts <command> [options]`.
 * This file only dispatches; each command lives in `lib/cli/`.
 *
 * @module
 */

import { closestName } from "./lib/cli/did_you_mean.ts";
import { UsageError } from "./lib/cli/usage_error.ts";
import { VERSION } from "./lib/core/version.ts";

const HELP = `politely ${VERSION}: send to rate-limited APIs as fast as they allow, never faster

Usage: main.ts <command> [options], run as
  deno run -A main.ts <command>          in a clone of the repository
  deno run -A <URL>/main.ts <command>    by URL, with no clone and no config
  politely <command>                     after deno install -g -A -n politely <URL>/main.ts

Commands:
  send RECIPIENTS|-   send one SMS per recipient through the Vonage Messages API
  receipts JOURNAL…   receive signed delivery receipts (status webhooks) beside each journal
  report JOURNAL      delivered / rejected / undeliverable / waiting, reasons and price
  mock                run a local mock of the Vonage Messages API with a real rate limit
  demo                the whole flow against an in-process mock: naive vs polite
  simulate            the article's backoff graphs, the AWS contention study, pacing, learning

Options:
  -h, --help          this help ('main.ts help COMMAND' for a command's)
  -V, --version       print the version

Run 'main.ts <command> --help' for a command's options.
`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  send: async () => (await import("./lib/cli/send_command.ts")).runSendCommand,
  receipts: async () => (await import("./lib/cli/receipts_command.ts")).runReceiptsCommand,
  report: async () => (await import("./lib/cli/report_command.ts")).runReportCommand,
  mock: async () => (await import("./lib/cli/mock_command.ts")).runMockCommand,
  demo: async () => (await import("./lib/cli/demo_command.ts")).runDemoCommand,
  simulate: async () => (await import("./lib/cli/simulate_command.ts")).runSimulateCommand,
};

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    // Usage that answers a mistake goes where mistakes go.
    console.error(HELP);
    return 2;
  }
  if (name === "--version" || name === "-V") {
    console.log(`politely ${VERSION}`);
    return 0;
  }
  if (name === "help" && rest[0] !== undefined) return await main([rest[0], "--help"]);
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(HELP);
    return 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) {
    const flag = name.startsWith("-");
    const guess = closestName(name, flag ? ["--help", "--version"] : Object.keys(commands));
    throw new UsageError(
      `unknown ${flag ? "option" : "command"} '${name}'` +
        (guess === undefined ? "" : ` (did you mean ${guess}?)`) +
        "; run 'main.ts --help' for the list",
    );
  }
  return await (await load())(rest);
}

/** Whether the user asked for stack traces (and let us read the environment to say so). */
function debugging(): boolean {
  const variable = "POLITELY_DEBUG";
  const permission = Deno.permissions.querySync({ name: "env", variable });
  return permission.state === "granted" && Boolean(Deno.env.get(variable));
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`politely: ${error.message}`);
      Deno.exitCode = 2;
    } else if (error instanceof Deno.errors.NotCapable) {
      // Deno's message names the access and the flag that grants it.
      console.error(`politely: ${error.message}`);
      Deno.exitCode = 2;
    } else {
      console.error(
        `politely: unexpected error: ${error instanceof Error ? error.message : error}`,
      );
      if (debugging()) console.error(error);
      else console.error("(set POLITELY_DEBUG=1 to see the stack trace, and please report it)");
      Deno.exitCode = 1;
    }
  }
}
