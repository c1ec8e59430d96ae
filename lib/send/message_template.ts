/**
 * Message templates: `{{column}}` in a text is replaced by that recipient's value of the
 * column (a CSV column or a JSON Lines field). Names are matched without regard to case
 * or surrounding spaces, so `{{ Name }}` finds a `name` column. There is no escaping: a
 * text cannot contain a literal `{{`.
 *
 * @module
 */

/**
 * The outcome of {@linkcode MessageTemplate.render}: the text, or which value is missing.
 *
 * @example Reporting an empty value
 * ```ts
 * import { MessageTemplate, type RenderedText } from "./message_template.ts";
 *
 * const rendered: RenderedText = MessageTemplate.parse("Hi {{name}}").render(() => "");
 * if (!rendered.ok) console.log(rendered.reason);
 * // the "name" value is empty, and the message uses {{name}}
 * ```
 */
export type RenderedText = { ok: true; text: string } | { ok: false; reason: string };

/**
 * A parsed message text with `{{name}}` placeholders.
 *
 * @example Filling a template from a row
 * ```ts
 * import { MessageTemplate } from "./message_template.ts";
 *
 * const template = MessageTemplate.parse("Hi {{name}}, your code is {{ code }}");
 * console.log(template.names); // ["name", "code"]
 * const row: Record<string, string> = { name: "Ada", code: "1234" };
 * console.log(template.render((name) => row[name])); // { ok: true, text: "Hi Ada, your code is 1234" }
 * ```
 */
export class MessageTemplate {
  /** The text as given, placeholders included; what the journal's text check compares. */
  readonly source: string;
  /** The placeholder names in order of first use, each once, lower-cased and trimmed. */
  readonly names: readonly string[];
  /** Literal pieces and names, alternating: `pieces[0] name0 pieces[1] name1 …`. */
  readonly #pieces: readonly string[];
  readonly #slots: readonly string[];

  private constructor(source: string, pieces: string[], slots: string[]) {
    this.source = source;
    this.#pieces = pieces;
    this.#slots = slots;
    this.names = [...new Set(slots)];
  }

  /**
   * Parse a text. Throws a `SyntaxError` saying where, for a `{{` that is never closed or
   * a placeholder without a name.
   *
   * @example A placeholder that is never closed
   * ```ts
   * import { MessageTemplate } from "./message_template.ts";
   *
   * try {
   *   MessageTemplate.parse("Hi {{name, see you");
   * } catch (error) {
   *   console.log((error as SyntaxError).message);
   *   // "{{" at character 4 is never closed: write placeholders as {{column}}
   * }
   * ```
   */
  static parse(source: string): MessageTemplate {
    const pieces: string[] = [];
    const slots: string[] = [];
    let cursor = 0;
    for (;;) {
      const open = source.indexOf("{{", cursor);
      if (open < 0) break;
      const close = source.indexOf("}}", open + 2);
      const inner = close < 0 ? "" : source.slice(open + 2, close);
      if (close < 0 || inner.includes("{")) {
        throw new SyntaxError(
          `"{{" at character ${open + 1} is never closed: write placeholders as {{column}}`,
        );
      }
      const name = inner.trim().toLowerCase();
      if (name === "") {
        throw new SyntaxError(
          `the placeholder at character ${open + 1} has no name: write {{column}}, with a ` +
            "column of the recipients file",
        );
      }
      pieces.push(source.slice(cursor, open));
      slots.push(name);
      cursor = close + 2;
    }
    pieces.push(source.slice(cursor));
    return new MessageTemplate(source, pieces, slots);
  }

  /**
   * The placeholder names that are not among `columns` (compared like placeholders:
   * trimmed, any case), for refusing a template before the file is read further.
   *
   * @example A placeholder that names no column
   * ```ts
   * import { MessageTemplate } from "./message_template.ts";
   *
   * console.log(MessageTemplate.parse("Hi {{name}}").missingFrom(["to", "Name "])); // []
   * console.log(MessageTemplate.parse("Hi {{first}}").missingFrom(["to", "name"])); // ["first"]
   * ```
   */
  missingFrom(columns: readonly string[]): string[] {
    const known = new Set(columns.map((column) => column.trim().toLowerCase()));
    return this.names.filter((name) => !known.has(name));
  }

  /**
   * Fill the placeholders. `valueOf` gets each name (lower-cased, trimmed) and returns the
   * recipient's value, or `undefined` if it has none; a missing or empty value is refused.
   *
   * @example Rendering without placeholders
   * ```ts
   * import { MessageTemplate } from "./message_template.ts";
   *
   * console.log(MessageTemplate.parse("Hello").render(() => undefined)); // { ok: true, text: "Hello" }
   * ```
   */
  render(valueOf: (name: string) => string | undefined): RenderedText {
    if (this.#slots.length === 0) return { ok: true, text: this.source };
    let text = this.#pieces[0]!;
    for (let index = 0; index < this.#slots.length; index++) {
      const name = this.#slots[index]!;
      const value = valueOf(name);
      if (value === undefined || value === "") {
        return {
          ok: false,
          reason: `the ${JSON.stringify(name)} value is ${
            value === undefined ? "missing" : "empty"
          }, and the message uses {{${name}}}`,
        };
      }
      text += value + this.#pieces[index + 1]!;
    }
    return { ok: true, text };
  }
}
