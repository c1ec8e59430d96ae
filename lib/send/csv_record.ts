/**
 * One CSV record (RFC 4180), split into fields without a CSV library: quoted
 * fields may hold commas, newlines and `""` escapes.
 *
 * @module
 */

/** One CSV record's fields, a quoted field still open at the line end, or why it is malformed. */
export type CsvParse =
  | { kind: "fields"; fields: string[] }
  | { kind: "open" }
  | { kind: "error"; reason: string };

/**
 * Split one CSV record (RFC 4180). "open" means a quoted field continues on the next
 * line. Spaces around a quoted field are allowed; unquoted fields are trimmed.
 *
 * @example A quoted field with a comma
 * ```ts
 * import { parseCsvRecord } from "./csv_record.ts";
 *
 * console.log(parseCsvRecord('a, "b, c" ,d')); // { kind: "fields", fields: ["a", "b, c", "d"] }
 * ```
 */
export function parseCsvRecord(text: string): CsvParse {
  const fields: string[] = [];
  const length = text.length;
  let index = 0;
  for (;;) {
    let start = index;
    while (start < length && (text[start] === " " || text[start] === "\t")) start++;
    if (text[start] === '"') {
      let value = "";
      let cursor = start + 1;
      for (;;) {
        const quoteAt = text.indexOf('"', cursor);
        if (quoteAt < 0) return { kind: "open" };
        value += text.slice(cursor, quoteAt);
        if (text[quoteAt + 1] === '"') {
          value += '"';
          cursor = quoteAt + 2;
        } else {
          cursor = quoteAt + 1;
          break;
        }
      }
      while (cursor < length && (text[cursor] === " " || text[cursor] === "\t")) cursor++;
      fields.push(value);
      if (cursor >= length) return { kind: "fields", fields };
      if (text[cursor] !== ",") {
        return {
          kind: "error",
          reason: `field ${fields.length} has text after its closing quote ` +
            `(write a " inside a quoted field as "")`,
        };
      }
      index = cursor + 1;
    } else {
      const comma = text.indexOf(",", index);
      if (comma < 0) {
        fields.push(text.slice(index).trim());
        return { kind: "fields", fields };
      }
      fields.push(text.slice(index, comma).trim());
      index = comma + 1;
    }
  }
}
