/**
 * `main.ts send`: read recipients, check everything, then send one SMS each at
 * the allowed rate, journaling every outcome. The parts: flags
 * (`send_flags.ts`), input (`send_input.ts`), setup (`send_setup.ts`) and the
 * sending pass (`send_run.ts`).
 *
 * The input is read twice, streamed both times: a validation pass (nothing is
 * sent unless every line is good, or `--skip-invalid`), then the sending pass.
 * With `--redis URL` the sending pass is one worker's share of a campaign that
 * several workers run together (see `lib/redis/shared_send.ts`).
 *
 * @module
 */

import { hashMessageText, Journal } from "../send/journal.ts";
import { mintVonageJwt } from "../vonage/jwt.ts";
import {
  budgetKey,
  campaignId,
  queueKey,
  RecipientDigest,
  type SharedSend,
} from "../redis/shared_send.ts";
import { readSendFlags, SEND_HELP, type SendFlags } from "./send_flags.ts";
import {
  defaultJournalPath,
  readOptionsFor,
  sendable,
  spoolStdin,
  validate,
  type Validation,
} from "./send_input.ts";
import { defaultIo, type SendCommandIo } from "./send_io.ts";
import { runSend } from "./send_run.ts";
import {
  checkJournalPlace,
  checkRedis,
  finishJournal,
  joinShared,
  loadPrivateKey,
  openJournal,
  openShared,
  recoverShared,
} from "./send_setup.ts";
import { UsageError } from "./usage_error.ts";
import { countryName } from "../send/phone_number.ts";
import { estimateCost, formatCost } from "./send_cost.ts";
import { plural } from "../send/wording.ts";

export type { SendCommandIo } from "./send_io.ts";

/**
 * Run `main.ts send` with the given arguments; resolves to the exit code.
 *
 * @example Sending to a file of numbers
 * ```ts ignore
 * import { runSendCommand } from "./send_command.ts";
 *
 * Deno.exitCode = await runSendCommand(["recipients.csv", "--text", "Hello", "--rate", "1"]);
 * ```
 */
export async function runSendCommand(
  args: string[],
  io: SendCommandIo = defaultIo,
): Promise<number> {
  const flags = readSendFlags(args, io.env);
  if (flags === "help") {
    io.stdout(SEND_HELP);
    return 0;
  }
  const { input, text, applicationId } = flags;
  const privateKey = await loadPrivateKey(io.env);
  // Mint once now, so a key that Vonage would refuse fails before anything is read or sent.
  await mintVonageJwt({ applicationId, privateKey });
  // Reach Redis before reading anything: a wrong URL fails at once, with nothing sent.
  if (flags.redis !== undefined) await checkRedis(flags.redis.url);

  const spooled = input === "-" ? await spoolStdin() : undefined;
  const path = spooled ?? input;
  const displayName = input === "-" ? "<stdin>" : input;
  try {
    const digest = flags.redis === undefined ? undefined : new RecipientDigest();
    const readOptions = readOptionsFor(flags);
    const checked = await validate(
      path,
      displayName,
      text,
      flags.skipInvalid,
      io,
      readOptions,
      digest,
    );
    if (checked.recipients === 0) {
      throw new UsageError(`${displayName} has no recipients to send to; nothing sent`);
    }
    if (flags.dryRun) {
      await reportDryRun(flags, displayName, checked, digest, io);
      return 0;
    }

    const journal = flags.noJournal
      ? Journal.none()
      : await openJournal(flags.journal ?? defaultJournalPath(input), flags.from, text);
    let shared: SharedSend | undefined;
    let code: number;
    try {
      if (flags.redis !== undefined && digest !== undefined) {
        shared = await openShared(flags.redis, journal, digest, flags);
        const { recover } = flags.redis;
        const recipients = sendable(path, text, readOptions);
        await joinShared(shared, recover, recipients, checked.recipients, flags.ratePerSecond, io);
      }
      code = flags.redis?.recover && shared !== undefined
        ? await recoverShared(shared, journal.path, io)
        : await runSend(path, { ...flags, journal, shared, checked, privateKey }, io);
    } catch (error) {
      // Whatever went wrong is the news: closing must not replace it (a failed journal
      // write, already explained, would be rethrown by close()).
      await shared?.close().catch(() => {});
      await journal.close().catch(() => {});
      throw error;
    }
    // The run went well: a failure to flush the last records is news, and reported.
    try {
      await shared?.close();
    } finally {
      await finishJournal(journal);
    }
    return code;
  } finally {
    if (spooled) await Deno.remove(spooled).catch(() => {});
  }
}

/** `--dry-run`: what would be sent, to whom, and how long it would take. Nothing is sent. */
async function reportDryRun(
  flags: SendFlags,
  displayName: string,
  checked: Validation,
  digest: RecipientDigest | undefined,
  io: SendCommandIo,
): Promise<void> {
  const { input, from, text, ratePerSecond, burst, applicationId } = flags;
  if (!flags.noJournal && input !== "-" || flags.journal !== undefined) {
    await checkJournalPlace(flags.journal ?? defaultJournalPath(input));
  }
  const { defaultCountry, pricePerSegment } = flags;
  const seconds = Math.max(0, checked.recipients - burst) / ratePerSecond;
  const queue = digest === undefined ? undefined : queueKey(campaignId({
    applicationId,
    from,
    textHash: await hashMessageText(text ?? ""),
    recipients: digest,
  }));
  const cost = estimateCost(checked.segments, pricePerSegment);
  if (flags.json) {
    io.stdout(JSON.stringify({
      dryRun: true,
      recipients: checked.recipients,
      invalid: checked.invalid,
      duplicates: checked.duplicates,
      segments: checked.segments,
      encodings: checked.encodings,
      ...(cost === undefined ? {} : { pricePerSegment, estimatedCost: cost }),
      ...(defaultCountry === undefined ? {} : { defaultCountry }),
      from,
      seconds: Math.round(seconds * 10) / 10,
      first: checked.first.map((r) => ({
        line: r.line,
        to: r.to,
        text: r.text ?? text,
        encoding: r.counted.encoding,
        segments: r.counted.segments,
      })),
      ...(queue === undefined ? {} : { queue, budget: budgetKey(applicationId) }),
    }));
    return;
  }
  io.stdout(
    `dry run: ${plural(checked.recipients, "recipient")} in ${displayName}` +
      (checked.duplicates > 0 ? ` (${checked.duplicates} duplicates dropped)` : "") +
      (defaultCountry === undefined
        ? ""
        : `; national numbers read as ${countryName(defaultCountry)} (${defaultCountry})`),
  );
  for (const r of checked.first) {
    io.stdout(
      `  to ${r.to} from ${from}: ${JSON.stringify(r.text ?? text)} (${r.counted.encoding}, ` +
        `${plural(r.counted.segments, "segment")})`,
    );
  }
  const { "GSM-7": gsm, "UCS-2": ucs2 } = checked.encodings;
  io.stdout(
    `segments: ${checked.segments} in total (${plural(gsm, "message")} in GSM-7, ${ucs2} in ` +
      "UCS-2)" +
      (cost === undefined
        ? ""
        : `; estimated cost ${formatCost(cost)} at ${pricePerSegment} per segment`),
  );
  io.stdout(
    // Signing proves the key is usable, not that it belongs to the application: only
    // the API can tell, and a dry run does not ask it.
    `the key signs tokens for application ${applicationId} (not checked with the API); ` +
      `at ${ratePerSecond}/s ` +
      `this takes about ${formatSeconds(seconds)}. Nothing sent.`,
  );
  if (queue !== undefined) {
    io.stdout(
      `redis: every worker would draw on the budget ${budgetKey(applicationId)} and ` +
        `claim from the queue ${queue}; together they take as long as one would`,
    );
  }
}

function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
