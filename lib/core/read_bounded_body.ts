/**
 * A request body read whole, but never more than a limit: a declared length
 * over it is refused before reading, and a chunked body is cut off as soon as
 * it passes it.
 *
 * @module
 */

/**
 * The body of `request`, or `undefined` as soon as it is known to be larger than `maxBytes`.
 *
 * @example Refusing a body over 16 bytes
 * ```ts
 * import { readBoundedBody } from "./read_bounded_body.ts";
 *
 * const request = new Request("http://x/", { method: "POST", body: "a much longer body than that" });
 * console.log(await readBoundedBody(request, 16)); // undefined
 * ```
 */
export async function readBoundedBody(
  request: Request,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  if (Number(request.headers.get("content-length") ?? NaN) > maxBytes) {
    await request.body?.cancel();
    return undefined;
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
