/**
 * What an answer of the Vonage Messages API means for the message: one typed
 * outcome per row of the table of server answers (docs/design.md).
 *
 * @module
 */

import { serverDelayMs, statedLimitPerSecond } from "../core/rate_limit_headers.ts";
import type { InvalidParameter, SendOutcome } from "./outcomes.ts";

/**
 * One answer of the Messages API as a {@linkcode SendOutcome}: the status decides,
 * the problem body (RFC 7807) says why, and a 429 or 503 carries the server's hint.
 *
 * @example A 429 with Retry-After
 * ```ts
 * import { classifyAnswer } from "./classify_answer.ts";
 *
 * const response = new Response("{}", { status: 429, headers: { "retry-after": "2" } });
 * console.log(classifyAnswer(response, 429, "{}", Date.now()).kind); // "throttled"
 * ```
 */
export function classifyAnswer(
  response: Response,
  status: number,
  text: string | undefined,
  nowMs: number,
): SendOutcome {
  if (status >= 200 && status < 300) {
    let uuid: unknown;
    try {
      uuid = (JSON.parse(text ?? "") as Record<string, unknown> | null)?.message_uuid;
    } catch {
      uuid = undefined;
    }
    if (typeof uuid === "string" && uuid !== "") {
      return { kind: "accepted", status, messageUuid: uuid };
    }
    return { kind: "uncertain", status, reason: `answered ${status} without a message_uuid` };
  }
  const { title, detail, invalidParameters } = parseProblem(status, text);
  if (status === 429 || status === 503) {
    const retryAfterMs = serverDelayMs(response, nowMs);
    const hint = retryAfterMs === undefined ? {} : { retryAfterMs };
    if (status === 503) return { kind: "unavailable", status, title, detail, ...hint };
    const limitPerSecond = statedLimitPerSecond(response, nowMs);
    const limit = limitPerSecond === undefined ? {} : { limitPerSecond };
    return { kind: "throttled", status, title, detail, ...hint, ...limit };
  }
  if (status === 401 || status === 403) return { kind: "auth", status, title, detail };
  if (status === 402) return { kind: "payment", status, title, detail };
  if (status >= 500) {
    return {
      kind: "uncertain",
      status,
      reason: `server error ${status}${
        detail !== "" ? `: ${detail}` : title !== `HTTP ${status}` ? `: ${title}` : ""
      }`,
    };
  }
  if (status >= 300 && status < 400) {
    const location = response.headers.get("location");
    return {
      kind: "unexpected",
      status,
      title: "Unexpected redirect",
      detail: `the server redirected to ${location ?? "(no location)"}; check the base URL`,
    };
  }
  // Only these say "this message is wrong"; any other answer is about the
  // endpoint, and would meet every message alike.
  if (status === 400 || status === 413 || status === 422) {
    return { kind: "rejected", status, title, detail, invalidParameters };
  }
  return { kind: "unexpected", status, title, detail };
}

interface Problem {
  title: string;
  detail: string;
  invalidParameters: InvalidParameter[];
}

/** Read an RFC 7807 problem leniently: any field may be missing or mistyped. */
function parseProblem(status: number, text: string | undefined): Problem {
  const problem: Problem = { title: `HTTP ${status}`, detail: "", invalidParameters: [] };
  if (text === undefined || text.trim() === "") return problem;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problem.detail = text.trim().slice(0, 200);
    return problem;
  }
  if (typeof body !== "object" || body === null) return problem;
  const record = body as Record<string, unknown>;
  if (typeof record.title === "string" && record.title !== "") problem.title = record.title;
  if (typeof record.detail === "string") problem.detail = record.detail;
  if (Array.isArray(record.invalid_parameters)) {
    for (const item of record.invalid_parameters) {
      if (typeof item !== "object" || item === null) continue;
      const { name, reason } = item as Record<string, unknown>;
      if (typeof name === "string") {
        problem.invalidParameters.push({ name, reason: typeof reason === "string" ? reason : "" });
      }
    }
  }
  return problem;
}
