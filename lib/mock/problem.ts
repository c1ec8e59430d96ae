/**
 * RFC 7807 problem documents, shaped like the ones the Vonage Messages API
 * returns (`type`, `title`, `detail`, `instance`, and `invalid_parameters` on
 * a 422). The `type` URIs are the mock's own and only look like Vonage's.
 *
 * @module
 */

/**
 * One field the mock refused, as in Vonage's `invalid_parameters`.
 *
 * @example A 422 body naming the bad field
 * ```ts
 * import { type InvalidParameter, problem } from "./problem.ts";
 *
 * const invalid: InvalidParameter[] = [{ name: "to", reason: "must be a phone number" }];
 * const body = problem("invalid-params", "Invalid params", "One parameter is invalid.", invalid);
 * console.log(body.invalid_parameters?.[0]?.name); // to
 * ```
 */
export interface InvalidParameter {
  /** The field's name in the request body, e.g. `to` or `sms.encoding_type`. */
  name: string;
  /** Why the value was refused, and what would be accepted. */
  reason: string;
}

/**
 * The body of every error answer from the mock.
 *
 * @example Reading an error answer
 * ```ts
 * import type { Problem } from "./problem.ts";
 * import { createMockVonage } from "./mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const mock = await createMockVonage({ publicKey, applicationId: "app" });
 * const response = await mock.app.request("/v1/messages", { method: "POST" });
 * const body = (await response.json()) as Problem;
 * console.log(response.status, body.title); // 401 Unauthorized
 * ```
 */
export interface Problem {
  /** A URI naming the kind of problem. */
  type: string;
  /** A short summary that is the same for every problem of this type. */
  title: string;
  /** What went wrong with this request. */
  detail: string;
  /** An id for this occurrence (Vonage puts a trace id here). */
  instance: string;
  /** On a 422: each refused field and why. */
  invalid_parameters?: InvalidParameter[];
}

const TYPE_BASE = "https://developer.vonage.com/api-errors";

/**
 * Make a problem document with a fresh `instance` id.
 *
 * @example A 422 body
 * ```ts
 * import { problem } from "./problem.ts";
 *
 * const body = problem("invalid-params", "Invalid params", "The value of one or more parameters is invalid.");
 * console.log(body.type); // https://developer.vonage.com/api-errors#invalid-params
 * ```
 */
export function problem(
  slug: string,
  title: string,
  detail: string,
  invalidParameters?: InvalidParameter[],
): Problem {
  const body: Problem = {
    type: `${TYPE_BASE}#${slug}`,
    title,
    detail,
    instance: crypto.randomUUID(),
  };
  if (invalidParameters !== undefined) body.invalid_parameters = invalidParameters;
  return body;
}
