/**
 * End to end: a journal place that cannot take the journal — a read-only file system,
 * a full disk, a missing folder — is a setup error (exit 2, the journal's message,
 * nothing sent), and a journal is created readable by its owner only. The read-only
 * and full file systems are real tmpfs mounts in a private mount namespace
 * (`unshare -rm`); where that is not allowed, those tests are ignored and say so.
 */

import assert from "node:assert/strict";
import {
  finishSend,
  numbers,
  sendToMock,
  serveTestMock,
  tempDir,
  writeList,
} from "./support/send_cli.ts";

/**
 * How to run the sender in a private mount namespace, best first: as ourselves in a
 * user namespace (`unshare -rm`); as root; through passwordless sudo (GitHub's Ubuntu
 * runners restrict user namespaces). `drop` then switches back to our own user and
 * home with `setpriv` once the mount is made, so the sender runs as it would for anyone.
 */
async function findMounter(): Promise<{ prefix: string[]; drop: string[] } | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const uid = Deno.uid() ?? 0;
  const drop = [
    "setpriv",
    `--reuid=${uid}`,
    `--regid=${Deno.gid() ?? 0}`,
    "--clear-groups",
    "env",
    `HOME=${Deno.env.get("HOME") ?? "/"}`,
  ];
  const candidates = [
    { prefix: ["unshare", "-rm"], drop: [] },
    ...(uid === 0 ? [{ prefix: ["unshare", "-m"], drop: [] }] : []),
    { prefix: ["sudo", "-n", "unshare", "-m"], drop },
  ];
  for (const candidate of candidates) {
    try {
      const { success } = await new Deno.Command(candidate.prefix[0]!, {
        args: [...candidate.prefix.slice(1), "sh", "-c", "mount -t tmpfs tmpfs /tmp"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return candidate;
    } catch {
      // Not installed: try the next.
    }
  }
  return undefined;
}
const mounter = await findMounter();

function mountTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: mounter ? name : `${name} [ignored: cannot mount in a private namespace here]`,
    ignore: mounter === undefined,
    fn,
  });
}

/** Run the sender with `setup` (shell, $D is the journal's folder) done in its namespace. */
function inNamespace(setup: string, folder: string): string[] {
  const { prefix, drop } = mounter!;
  return [...prefix, "sh", "-c", `D='${folder}'; ${setup} && exec "$@"`, "sh", ...drop];
}

mountTest(
  "send with its journal on a read-only file system: exit 2, the journal's message, nothing sent",
  async () => {
    await using dir = await tempDir();
    await using server = await serveTestMock();
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(3));
    const folder = `${dir.path}/ro`;
    await Deno.mkdir(folder);

    const run = finishSend(
      await sendToMock(file, server.url, ["--journal", `${folder}/j.jsonl`], {
        wrapper: inNamespace(`mount -t tmpfs -o ro tmpfs "$D"`, folder),
      }).output(),
    );

    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /^politely: Cannot open the journal .*ro\/j\.jsonl: the file system is read-only\. Pass --journal FILE/,
    );
    assert.doesNotMatch(run.stderr, /unexpected error/);
    assert.equal(server.stats().accepted, 0);
  },
);

mountTest(
  "send with its journal on a full disk: exit 2, the journal's message, nothing sent",
  async () => {
    await using dir = await tempDir();
    await using server = await serveTestMock();
    const file = await writeList(`${dir.path}/recipients.txt`, numbers(3));
    const folder = `${dir.path}/full`;
    await Deno.mkdir(folder);

    const run = finishSend(
      await sendToMock(file, server.url, ["--journal", `${folder}/j.jsonl`], {
        wrapper: inNamespace(
          `mount -t tmpfs -o size=4k tmpfs "$D" && head -c 4096 /dev/zero > "$D/fill" 2>/dev/null; ` +
            `test -e "$D/fill"`,
          folder,
        ),
      }).output(),
    );

    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^politely: Cannot write the journal .*j\.jsonl: the disk is full/);
    assert.doesNotMatch(run.stderr, /unexpected error/);
    assert.equal(server.stats().accepted, 0);
  },
);

Deno.test("send with its journal in a missing folder: exit 2, the journal's message", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock();
  const file = await writeList(`${dir.path}/recipients.txt`, numbers(3));

  const run = finishSend(
    await sendToMock(file, server.url, ["--journal", `${dir.path}/missing/j.jsonl`]).output(),
  );

  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /Cannot open the journal .*: its directory does not exist/);
  assert.equal(server.stats().accepted, 0);
});

Deno.test("send creates its journal readable by its owner only (0600)", async () => {
  if (Deno.build.os === "windows") return;
  await using dir = await tempDir();
  await using server = await serveTestMock();
  const file = await writeList(`${dir.path}/recipients.txt`, numbers(2));

  const run = finishSend(await sendToMock(file, server.url, ["--rate", "100"]).output());

  assert.equal(run.code, 0, run.stderr);
  const { mode } = await Deno.stat(`${file}.journal.jsonl`);
  assert.equal(mode! & 0o777, 0o600);
});
