// The folders of lib/ are layers: each may import only from the layers below it, so the
// tree shows the architecture and a change in the campaign can never reach into the core.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const lib = fileURLToPath(new URL("../lib/", import.meta.url));

/** What each folder may import from (besides itself). */
const allowed: Record<string, string[]> = {
  deps: [],
  core: ["deps"],
  vonage: ["core", "deps"],
  send: ["core", "deps", "vonage"],
  redis: ["core", "deps", "send"],
  receipts: ["core", "deps", "vonage", "send"],
  mock: ["core", "deps", "vonage"],
  simulate: ["core", "deps"],
  cli: ["core", "deps", "vonage", "send", "redis", "receipts", "mock", "simulate"],
};

async function* sources(folder: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isDirectory) yield* sources(`${folder}/${entry.name}`);
    else if (entry.name.endsWith(".ts")) yield `${folder}/${entry.name}`;
  }
}

Deno.test("lib/ folders import only from the layers below them", async () => {
  const folders = [];
  for await (const entry of Deno.readDir(lib)) if (entry.isDirectory) folders.push(entry.name);
  assert.deepEqual(folders.sort(), Object.keys(allowed).sort(), "every folder has its layer");
  const wrong: string[] = [];
  for (const folder of folders) {
    for await (const path of sources(`${lib}${folder}`)) {
      const text = await Deno.readTextFile(path);
      // Imports in code and in doc examples alike: `from "../x/…"` and `import("../x/…")`.
      for (const match of text.matchAll(/(?:from|import\()\s*"\.\.\/([a-z_]+)\//g)) {
        const target = match[1]!;
        if (target !== folder && !allowed[folder]!.includes(target)) {
          wrong.push(`${path.slice(lib.length)} imports from ${target}/`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});
