/**
 * What `main.ts send` needs from its environment; tests and `demo` pass their own.
 *
 * @module
 */

/** What `send` needs from its environment; tests and `demo` pass their own. */
export interface SendCommandIo {
  /** Environment variables. */
  env: { get(name: string): string | undefined };
  /** Where the summary goes. */
  stdout: (text: string) => void;
  /** Where problems and notices go. */
  stderr: (text: string) => void;
}

/** The real environment, standard output and standard error. */
export const defaultIo: SendCommandIo = {
  env: Deno.env,
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
};
