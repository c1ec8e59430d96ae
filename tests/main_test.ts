// main.ts as a person meets it: usage, version, help for every command, and the
// "did you mean" for a slip of the keyboard. Each case runs main.ts in its own process.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const mainTs = `${repoRoot}main.ts`;
const commands = ["send", "receipts", "report", "mock", "demo", "simulate"];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function politely(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", mainTs, ...args],
    cwd: options.cwd ?? repoRoot,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
}

/**
 * Where each option line's description starts, and the lines that break the
 * column: an option line (two spaces, then a dash) puts its description after
 * two or more spaces; a flag too long for the column stands alone and its
 * description starts on the next line, at the column; continuation lines
 * start at the column too.
 */
function misalignedLines(help: string): string[] {
  const lines = help.split("\n");
  const columns = new Set<number>();
  const bad: string[] = [];
  let column: number | undefined;
  let inOption = false;
  for (const [i, line] of lines.entries()) {
    const option = /^( {2}-\S.*?)( {2,})\S/.exec(line);
    if (option) {
      column = option[1]!.length + option[2]!.length;
      columns.add(column);
      inOption = true;
    } else if (/^ {2}-\S/.test(line)) {
      // A flag alone: its description is the next line.
      const next = lines[i + 1] ?? "";
      column = next.length - next.trimStart().length;
      columns.add(column);
      inOption = true;
    } else if (inOption && /^ {3,}\S/.test(line)) {
      if (line.length - line.trimStart().length !== column) bad.push(line);
    } else {
      inOption = false;
    }
  }
  if (columns.size > 1) bad.push(`descriptions start at columns ${[...columns].join(", ")}`);
  if (columns.size === 0) bad.push("no option lines found");
  return bad;
}

Deno.test("main.ts with no command prints usage on stderr and exits 2", async () => {
  const run = await politely([]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^politely \d+\.\d+\.\d+: /);
  assert.match(run.stderr, /Usage: main\.ts <command>/);
});

Deno.test("main.ts --help, -h and help print usage on stdout and exit 0", async () => {
  for (const flag of ["--help", "-h", "help"]) {
    const run = await politely([flag]);
    assert.equal(run.code, 0, flag);
    assert.equal(run.stderr, "", flag);
    assert.match(run.stdout, /Usage: main\.ts <command>/, flag);
    for (const command of commands) assert.match(run.stdout, new RegExp(`^  ${command} `, "m"));
  }
});

Deno.test("main.ts --version and -V print the version in deno.json", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(`${repoRoot}deno.json`));
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ["--version", "-V"]) {
    const run = await politely([flag]);
    assert.deepEqual(run, { code: 0, stdout: `politely ${version}\n`, stderr: "" }, flag);
  }
});

Deno.test("main.ts help COMMAND prints that command's help", async () => {
  const run = await politely(["help", "report"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^Usage: main\.ts report JOURNAL/);
});

Deno.test("main.ts suggests the command or option meant, in one line, exit 2", async () => {
  const cases: Array<[string[], string]> = [
    [
      ["sned"],
      "politely: unknown command 'sned' (did you mean send?); " +
      "run 'main.ts --help' for the list\n",
    ],
    [
      ["simulte"],
      "politely: unknown command 'simulte' (did you mean simulate?); " +
      "run 'main.ts --help' for the list\n",
    ],
    [["frobnicate"], "politely: unknown command 'frobnicate'; run 'main.ts --help' for the list\n"],
    [
      ["--verison"],
      "politely: unknown option '--verison' (did you mean --version?); " +
      "run 'main.ts --help' for the list\n",
    ],
    [
      ["help", "recepits"],
      "politely: unknown command 'recepits' (did you mean receipts?); " +
      "run 'main.ts --help' for the list\n",
    ],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await politely(args), { code: 2, stdout: "", stderr }, args.join(" "));
  }
});

Deno.test("every command suggests the flag meant for a misspelled one", async () => {
  const cases: Array<[string[], string, string]> = [
    [["send", "x.csv", "--rat", "5"], "--rat", "--rate"],
    [["send", "x.csv", "--retry-uncertian"], "--retry-uncertian", "--retry-uncertain"],
    [["send", "x.csv", "--conc", "4"], "--conc", "--concurrency"],
    [["receipts", "x.jsonl", "--prot", "0"], "--prot", "--port"],
    [["report", "x.jsonl", "--jsno"], "--jsno", "--json"],
    [["mock", "--burts", "2"], "--burts", "--burst"],
    [["demo", "--sed", "3"], "--sed", "--seed"],
    [["simulate", "--outt", "dir"], "--outt", "--out"],
  ];
  for (const [args, typo, meant] of cases) {
    const command = args[0]!;
    assert.deepEqual(await politely(args), {
      code: 2,
      stdout: "",
      stderr: `politely: ${command}: unknown option '${typo}' (did you mean ${meant}?); ` +
        `see 'main.ts ${command} --help'\n`,
    }, args.join(" "));
  }
});

Deno.test("simulate suggests the simulation meant", async () => {
  assert.deepEqual(await politely(["simulate", "artcle"]), {
    code: 2,
    stdout: "",
    stderr: `politely: unknown simulation "artcle" (did you mean article?): ` +
      "choose article, contention, pacing, adaptive or all\n",
  });
});

Deno.test("every help lines its descriptions up in one column", async () => {
  const helps: Record<string, string> = { "main.ts": (await politely(["--help"])).stdout };
  for (const command of commands) {
    const run = await politely([command, "--help"]);
    assert.equal(run.code, 0, command);
    helps[command] = run.stdout;
  }
  for (const [name, help] of Object.entries(helps)) {
    assert.deepEqual(misalignedLines(help), [], `${name} --help:\n${help}`);
  }
  // The check itself finds a broken column.
  assert.notDeepEqual(misalignedLines("  --a     one\n  --bb  two\n"), []);
  assert.notDeepEqual(misalignedLines("  --a     one\n         more\n        less\n"), []);
  assert.deepEqual(misalignedLines("  --a     one\n  --long-flag X\n          two\n"), []);
});

Deno.test("send --help ends with examples that run (checked with --dry-run)", async () => {
  const help = (await politely(["send", "--help"])).stdout;
  const block = help.split("\nExamples:\n")[1]?.split("\n\n")[0];
  assert.ok(block !== undefined, "send --help has an Examples: block");
  const examples = block.replaceAll("\\\n", " ").split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  assert.ok(examples.length >= 3, block);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/fixtures`);
    await Deno.copyFile(`${repoRoot}fixtures/recipients.csv`, `${dir}/fixtures/recipients.csv`);
    await Deno.writeTextFile(
      `${dir}/people.csv`,
      "name,phone\nAda,07911 123456\nBob,07400 123456\n",
    );
    for (const example of examples) {
      // Words, with "double quotes" kept together; VAR=value words become the environment.
      const words = [...example.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      const env: Record<string, string> = {
        VONAGE_APPLICATION_ID: "politely-test",
        VONAGE_PRIVATE_KEY_PATH: `${repoRoot}fixtures/test_private.key`,
      };
      while (/^[A-Z_]+=/.test(words[0] ?? "")) {
        const [name, value] = words.shift()!.split("=", 2) as [string, string];
        if (name !== "VONAGE_PRIVATE_KEY_PATH") env[name] = value;
      }
      assert.deepEqual(words.slice(0, 2), ["main.ts", "send"], example);
      const args = words.slice(1);
      if (!args.includes("--dry-run")) args.push("--dry-run");
      const run = await politely(args, { cwd: dir, env });
      assert.equal(run.code, 0, `${example}\n${run.stderr}`);
      assert.match(run.stdout + run.stderr, /Nothing sent\./, example);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
