/**
 * Reading what a server says about its rate limit: `Retry-After`, the IETF
 * `RateLimit` / `RateLimit-Policy` fields (draft 10), the older
 * `RateLimit-Limit` / `-Remaining` / `-Reset` fields and the GitHub-style
 * `X-RateLimit-*` fields.
 *
 * Every function here is total: a header that is missing, malformed or
 * nonsensical is ignored (treated as absent), never thrown. A client must work
 * without hints, so a bad hint must never be worse than no hint.
 *
 * All results are milliseconds from `nowMs`, the caller's clock reading, so
 * the same code runs against a {@linkcode FakeClock}.
 *
 * @module
 */

/**
 * What a response says about the rate limit it was answered under.
 *
 * @example Seeing that the quota is spent
 * ```ts
 * import { parseRateLimit, type RateLimitInfo } from "./rate_limit_headers.ts";
 *
 * const headers = new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "12" });
 * const info: RateLimitInfo | undefined = parseRateLimit(headers, Date.now());
 * if (info?.remaining === 0) console.log(`resets in ${info.resetMs} ms`); // resets in 12000 ms
 * ```
 */
export interface RateLimitInfo {
  /** Requests allowed per window (the quota), when the server says. */
  limit?: number;
  /** Requests still allowed before the window resets, when the server says. */
  remaining?: number;
  /** Milliseconds from `nowMs` until the quota resets, when the server says. */
  resetMs?: number;
  /** Length of the quota's window in milliseconds, when the server says. */
  policyWindowMs?: number;
}

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// The three HTTP-date forms of RFC 9110 §5.6.7. We parse them ourselves because
// `Date.parse` accepts almost anything ("soon 2020" is a date to V8), and a
// hint we misread is worse than no hint.
const IMF_FIXDATE =
  /^[a-z]{3},\s+(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i;
const RFC850_DATE = /^[a-z]{6,9},\s+(\d{1,2})-([a-z]{3})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i;
const ASCTIME_DATE = /^[a-z]{3}\s+([a-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})$/i;

/** Parse an HTTP-date to epoch milliseconds, or `undefined` if it is not one. */
function parseHttpDate(value: string, nowMs: number): number | undefined {
  let day: string, month: string, year: number, hh: string, mm: string, ss: string;
  let match = IMF_FIXDATE.exec(value);
  if (match) {
    [, day = "", month = "", , hh = "", mm = "", ss = ""] = match;
    year = Number(match[3]);
  } else if ((match = RFC850_DATE.exec(value))) {
    [, day = "", month = "", , hh = "", mm = "", ss = ""] = match;
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    const currentYear = new Date(nowMs).getUTCFullYear();
    year = 2000 + Number(match[3]);
    while (year > currentYear + 50) year -= 100;
  } else if ((match = ASCTIME_DATE.exec(value))) {
    [, month = "", day = "", hh = "", mm = "", ss = ""] = match;
    year = Number(match[6]);
  } else {
    return undefined;
  }
  const monthIndex = MONTHS[month.toLowerCase()];
  const d = Number(day), h = Number(hh), m = Number(mm), s = Number(ss);
  if (monthIndex === undefined || d < 1 || d > 31 || h > 23 || m > 59 || s > 60) return undefined;
  const ms = Date.UTC(year, monthIndex, d, h, m, Math.min(s, 59));
  // Reject dates that roll over (31 Feb becomes 3 Mar in Date.UTC).
  if (!Number.isFinite(ms) || new Date(ms).getUTCDate() !== d) return undefined;
  return ms;
}

/** A non-negative decimal number (`"120"`, `"1.5"`), or `undefined`. */
function parseNonNegative(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^\d+(?:\.\d+)?$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : undefined;
}

/** Seconds to milliseconds, or `undefined` if the result is not a finite number. */
function secondsToMs(seconds: number): number | undefined {
  const ms = Math.ceil(seconds * 1000);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * How long `Retry-After` asks the client to wait, in milliseconds from `nowMs`.
 *
 * Accepts delay-seconds (`120`, and leniently `1.5`) and all three HTTP-date
 * forms. A date in the past gives `0` (retry now). A missing or malformed
 * value gives `undefined`.
 *
 * @param headers The response headers.
 * @param nowMs The current time in epoch milliseconds (only used for HTTP-dates).
 * @returns Milliseconds to wait, or `undefined` when there is no usable hint.
 *
 * @example Reading both forms
 * ```ts
 * import { parseRetryAfter } from "./rate_limit_headers.ts";
 *
 * const now = Date.UTC(2026, 9, 21, 7, 27, 0);
 * parseRetryAfter(new Headers({ "retry-after": "120" }), now); // 120000
 * parseRetryAfter(new Headers({ "retry-after": "Wed, 21 Oct 2026 07:28:00 GMT" }), now); // 60000
 * parseRetryAfter(new Headers({ "retry-after": "soon" }), now); // undefined
 * ```
 */
export function parseRetryAfter(headers: Headers, nowMs: number): number | undefined {
  const raw = headers.get("retry-after");
  if (raw === null) return undefined;
  const value = raw.trim();
  const seconds = parseNonNegative(value);
  if (seconds !== undefined) return secondsToMs(seconds);
  const dateMs = parseHttpDate(value, nowMs);
  if (dateMs === undefined) return undefined;
  return Math.max(0, dateMs - nowMs);
}

type BareItem = string | number | boolean;

interface FieldMember {
  /** The item: a policy name (`"p"`), or for a dictionary member (`limit=10`) its key. */
  item: BareItem;
  /** The dictionary member's value (`10` in `limit=10`), when it has one. */
  value?: BareItem;
  params: Map<string, BareItem>;
}

/** Split at `separator` outside double-quoted strings. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === "\\" && i + 1 < text.length) {
      current += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === separator && !quoted) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** A structured-field bare item, parsed leniently (RFC 9651 §3.3). */
function parseBareItem(text: string): BareItem | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (t.startsWith('"')) {
    if (t.length < 2 || !t.endsWith('"')) return undefined;
    return t.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (t === "?1") return true;
  if (t === "?0") return false;
  if (/^-?\d+(?:\.\d+)?$/.test(t)) return Number(t);
  // Tokens and byte sequences are kept as text; we only ever compare them.
  return t;
}

/**
 * Parse a structured-field List or Dictionary leniently: every member is an
 * item (or `key=value`) followed by `;key=value` parameters. Members that do
 * not parse are dropped, so one bad member does not hide the good ones.
 */
function parseFieldMembers(field: string): FieldMember[] {
  const members: FieldMember[] = [];
  for (const memberText of splitOutsideQuotes(field, ",")) {
    const [head = "", ...paramTexts] = splitOutsideQuotes(memberText, ";");
    const eq = head.startsWith('"') ? -1 : head.indexOf("=");
    const item = parseBareItem(eq < 0 ? head : head.slice(0, eq));
    if (item === undefined) continue;
    const member: FieldMember = { item, params: new Map() };
    if (eq >= 0) {
      const value = parseBareItem(head.slice(eq + 1));
      if (value === undefined) continue;
      member.value = value;
    }
    for (const paramText of paramTexts) {
      const at = paramText.indexOf("=");
      const key = (at < 0 ? paramText : paramText.slice(0, at)).trim().toLowerCase();
      if (key === "") continue;
      const value = at < 0 ? true : parseBareItem(paramText.slice(at + 1));
      if (value !== undefined) member.params.set(key, value);
    }
    members.push(member);
  }
  return members;
}

/** A non-negative finite number from a structured-field item, or `undefined`. */
function nonNegative(item: BareItem | undefined): number | undefined {
  return typeof item === "number" && Number.isFinite(item) && item >= 0 ? item : undefined;
}

/** The leading number of a field such as `RateLimit-Limit: 100, 100;w=60`. */
function leadingNumber(field: string | null): number | undefined {
  if (field === null) return undefined;
  const first = parseFieldMembers(field)[0];
  return first && first.value === undefined ? nonNegative(first.item) : undefined;
}

/** Drop the fields that are `undefined` (the type has no `| undefined` members). */
function compact(info: {
  limit: number | undefined;
  remaining: number | undefined;
  resetMs: number | undefined;
  policyWindowMs: number | undefined;
}): RateLimitInfo {
  const out: RateLimitInfo = {};
  if (info.limit !== undefined) out.limit = info.limit;
  if (info.remaining !== undefined) out.remaining = info.remaining;
  if (info.resetMs !== undefined) out.resetMs = info.resetMs;
  if (info.policyWindowMs !== undefined) out.policyWindowMs = info.policyWindowMs;
  return out;
}

/**
 * Draft 10: `RateLimit: "p";r=50;t=30` and `RateLimit-Policy: "p";q=100;w=60`.
 * Quotas in another unit (`qu="content-bytes"`, `qu="concurrent-requests"`) are
 * ignored, as are `RateLimit` items naming such a policy.
 * With several policies the binding one is the one with the fewest requests
 * remaining (and, among exhausted ones, the latest reset: we must wait for
 * all of them). Also reads the draft 6–8 dictionary form
 * `RateLimit: limit=100, remaining=50, reset=30`.
 */
function fromIetfFields(headers: Headers): RateLimitInfo {
  let remaining: number | undefined;
  let resetSeconds: number | undefined;
  let limit: number | undefined;
  let windowSeconds: number | undefined;
  let policyName: BareItem | undefined;

  // Draft 10's quota unit `qu` may be "content-bytes" or "concurrent-requests":
  // such a quota says nothing about how many requests may go per window.
  const policies = parseFieldMembers(headers.get("ratelimit-policy") ?? "").filter((m) =>
    m.value === undefined
  );
  const countsRequests = (m: FieldMember): boolean =>
    (m.params.get("qu") ?? "requests") === "requests";
  const otherUnits = new Set(policies.filter((m) => !countsRequests(m)).map((m) => m.item));

  const rateLimit = headers.get("ratelimit");
  if (rateLimit !== null) {
    const members = parseFieldMembers(rateLimit);
    const dictionary = new Map<string, number | undefined>();
    for (const member of members) {
      if (member.value !== undefined && typeof member.item === "string") {
        dictionary.set(member.item.toLowerCase(), nonNegative(member.value));
        continue;
      }
      if (otherUnits.has(member.item)) continue;
      const r = nonNegative(member.params.get("r"));
      const t = nonNegative(member.params.get("t"));
      if (r === undefined && t === undefined) continue;
      const binding = remaining === undefined ||
        (r !== undefined && r < remaining) ||
        (r === remaining && t !== undefined && (resetSeconds === undefined || t > resetSeconds));
      if (binding) {
        remaining = r;
        resetSeconds = t;
        policyName = member.item;
      }
    }
    if (remaining === undefined && resetSeconds === undefined && dictionary.size > 0) {
      remaining = dictionary.get("remaining");
      resetSeconds = dictionary.get("reset");
      limit = dictionary.get("limit");
    }
  }

  const requestQuotas = policies.filter((m) =>
    countsRequests(m) && nonNegative(m.params.get("q")) !== undefined
  );
  const chosen = requestQuotas.find((m) => m.item === policyName) ?? requestQuotas[0];
  if (chosen) {
    limit = nonNegative(chosen.params.get("q"));
    const w = nonNegative(chosen.params.get("w"));
    if (w !== undefined) windowSeconds = w;
  }

  return compact({
    limit,
    remaining,
    resetMs: resetSeconds === undefined ? undefined : secondsToMs(resetSeconds),
    policyWindowMs: windowSeconds === undefined ? undefined : secondsToMs(windowSeconds),
  });
}

/** Older drafts: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds). */
function fromOlderFields(headers: Headers): RateLimitInfo {
  const limitField = headers.get("ratelimit-limit");
  let policyWindowMs: number | undefined;
  if (limitField !== null) {
    // Draft 3+ allowed `RateLimit-Limit: 100, 100;w=60`: the window rides on a member.
    for (const member of parseFieldMembers(limitField)) {
      const w = nonNegative(member.params.get("w"));
      if (w !== undefined) {
        policyWindowMs = secondsToMs(w);
        break;
      }
    }
  }
  const reset = leadingNumber(headers.get("ratelimit-reset"));
  return compact({
    limit: leadingNumber(limitField),
    remaining: leadingNumber(headers.get("ratelimit-remaining")),
    resetMs: reset === undefined ? undefined : secondsToMs(reset),
    policyWindowMs,
  });
}

// A reset this large cannot be a delay: 1e9 s is 31 years, and as epoch
// seconds it is September 2001. Above 1e12 it is epoch milliseconds.
const EPOCH_SECONDS_THRESHOLD = 1e9;
const EPOCH_MILLISECONDS_THRESHOLD = 1e12;
// Epoch resets are truncated to the second and the clocks differ: wait a bit more.
const EPOCH_RESET_MARGIN_MS = 1000;

/**
 * GitHub/X style: `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
 * `X-RateLimit-Reset` as epoch seconds (some APIs send a delay in seconds or
 * epoch milliseconds instead: told apart by magnitude), or
 * `X-RateLimit-Reset-After` in seconds.
 */
function fromXFields(headers: Headers, nowMs: number): RateLimitInfo {
  let resetMs: number | undefined;
  const reset = parseNonNegative(headers.get("x-ratelimit-reset"));
  if (reset !== undefined) {
    if (reset >= EPOCH_MILLISECONDS_THRESHOLD) {
      resetMs = Math.max(0, Math.ceil(reset + EPOCH_RESET_MARGIN_MS - nowMs));
    } else if (reset >= EPOCH_SECONDS_THRESHOLD) {
      resetMs = Math.max(0, Math.ceil(reset * 1000 + EPOCH_RESET_MARGIN_MS - nowMs));
    } else {
      resetMs = secondsToMs(reset);
    }
  } else {
    const resetAfter = parseNonNegative(headers.get("x-ratelimit-reset-after"));
    if (resetAfter !== undefined) resetMs = secondsToMs(resetAfter);
  }
  return compact({
    limit: parseNonNegative(headers.get("x-ratelimit-limit")),
    remaining: parseNonNegative(headers.get("x-ratelimit-remaining")),
    resetMs,
    policyWindowMs: undefined,
  });
}

/**
 * Read the rate-limit state a response reports, from whichever family of
 * headers it uses.
 *
 * Families, in order of precedence: IETF draft 10 (`RateLimit` with
 * `RateLimit-Policy`, also the draft 6–8 dictionary form), the older
 * `RateLimit-Limit` / `-Remaining` / `-Reset` (reset in delta seconds), and
 * `X-RateLimit-*` (reset in epoch seconds, plus a 1 s margin because epoch
 * resets are truncated to the second and clocks differ; a value below 1e9 is
 * taken as delta seconds, one above 1e12 as epoch milliseconds).
 * `remaining` and `resetMs` always come from the same family, since mixing
 * two families' counters would describe no real window; `limit` and
 * `policyWindowMs` fill in from the next family that has them.
 *
 * @param headers The response headers.
 * @param nowMs The current time in epoch milliseconds (for epoch resets).
 * @returns What the headers say, or `undefined` when they say nothing usable.
 *
 * @example Reading IETF draft 10 fields
 * ```ts
 * import { parseRateLimit } from "./rate_limit_headers.ts";
 *
 * const headers = new Headers({
 *   "ratelimit": '"default";r=0;t=30',
 *   "ratelimit-policy": '"default";q=100;w=60',
 * });
 * parseRateLimit(headers, Date.now());
 * // { limit: 100, remaining: 0, resetMs: 30000, policyWindowMs: 60000 }
 * ```
 */
export function parseRateLimit(headers: Headers, nowMs: number): RateLimitInfo | undefined {
  const families = [fromIetfFields(headers), fromOlderFields(headers), fromXFields(headers, nowMs)];
  const counters = families.find((f) => f.remaining !== undefined || f.resetMs !== undefined);
  const info: RateLimitInfo = {};
  const limit = families.find((f) => f.limit !== undefined)?.limit;
  const window = families.find((f) => f.policyWindowMs !== undefined)?.policyWindowMs;
  if (limit !== undefined) info.limit = limit;
  if (counters?.remaining !== undefined) info.remaining = counters.remaining;
  if (counters?.resetMs !== undefined) info.resetMs = counters.resetMs;
  if (window !== undefined) info.policyWindowMs = window;
  return Object.keys(info).length > 0 ? info : undefined;
}

/**
 * The delay a server asks for before the next request, in milliseconds.
 *
 * `Retry-After` takes precedence over everything else. Otherwise, when the
 * rate-limit headers say no request remains, the time until the quota resets.
 * Otherwise `undefined`: the server gave no hint, so the caller uses its own
 * backoff. The value is the server's word: do not jitter it.
 *
 * @param source A response, or just its headers.
 * @param nowMs The current time in epoch milliseconds.
 * @returns Milliseconds to wait, or `undefined` when the server gave no usable hint.
 *
 * @example Honouring a 429's hint
 * ```ts
 * import { serverDelayMs } from "./rate_limit_headers.ts";
 *
 * const response = new Response(null, {
 *   status: 429,
 *   headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "2" },
 * });
 * serverDelayMs(response, Date.now()); // 2000
 * ```
 */
export function serverDelayMs(source: Response | Headers, nowMs: number): number | undefined {
  const headers = source instanceof Headers ? source : source.headers;
  const retryAfter = parseRetryAfter(headers, nowMs);
  if (retryAfter !== undefined) return retryAfter;
  const info = parseRateLimit(headers, nowMs);
  if (info?.remaining === 0 && info.resetMs !== undefined) return info.resetMs;
  return undefined;
}

/**
 * The request rate a server states as its limit, in requests per second: a
 * quota and its window (`RateLimit-Policy: "p";q=100;w=10` is 10/s).
 * `undefined` when it states no window (a bare `X-RateLimit-Limit` says
 * nothing about time) or a quota in another unit.
 *
 * @param source A response, or just its headers.
 * @param nowMs The current time in epoch milliseconds.
 * @returns Requests per second, or `undefined`.
 *
 * @example Reading the limit a 429 states
 * ```ts
 * import { statedLimitPerSecond } from "./rate_limit_headers.ts";
 *
 * const response = new Response(null, {
 *   status: 429,
 *   headers: { "ratelimit-policy": '"default";q=100;w=10' },
 * });
 * console.log(statedLimitPerSecond(response, Date.now())); // 10
 * ```
 */
export function statedLimitPerSecond(
  source: Response | Headers,
  nowMs: number,
): number | undefined {
  const headers = source instanceof Headers ? source : source.headers;
  const info = parseRateLimit(headers, nowMs);
  if (info?.limit === undefined || info.policyWindowMs === undefined) return undefined;
  const perSecond = info.limit / (info.policyWindowMs / 1000);
  return perSecond > 0 && perSecond < Infinity ? perSecond : undefined;
}
