import assert from "node:assert/strict";
import { runWorkerPool } from "../lib/send/worker_pool.ts";

/** Count handlers running at once while each waits for `release`. */
function tracker() {
  let running = 0;
  let most = 0;
  let started = 0;
  const waiting: Array<() => void> = [];
  return {
    get most() {
      return most;
    },
    get started() {
      return started;
    },
    handle: async (_: number): Promise<void> => {
      started++;
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => waiting.push(resolve));
      running--;
    },
    releaseAll(): void {
      for (const resolve of waiting.splice(0)) resolve();
    },
    get waiting(): number {
      return waiting.length;
    },
  };
}

Deno.test("runWorkerPool() runs at most `workers` handlers, and no more than the items", async () => {
  for (const [workers, items, expected] of [[3, 10, 3], [1e9, 5, 5], [Infinity, 4, 4]] as const) {
    const t = tracker();
    const done = runWorkerPool(Array.from({ length: items }, (_, i) => i), {
      workers,
      handle: t.handle,
      fail: (error) => assert.fail(String(error)),
      firstAnswer: Promise.resolve(),
      onFirstDone: () => {},
    });
    while (t.started < items) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.ok(t.waiting <= expected);
      t.releaseAll();
    }
    t.releaseAll();
    await done;
    assert.equal(t.most, expected, `workers ${workers}, items ${items}`);
    assert.equal(t.started, items);
  }
});

Deno.test("runWorkerPool() handles one item at a time until the first answer", async () => {
  const t = tracker();
  let open!: () => void;
  const firstAnswer = new Promise<void>((resolve) => (open = resolve));
  const done = runWorkerPool([1, 2, 3, 4], {
    workers: 4,
    handle: t.handle,
    fail: (error) => assert.fail(String(error)),
    firstAnswer,
    onFirstDone: () => {},
  });
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(t.started, 1);
  open();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(t.started, 4);
  t.releaseAll();
  await done;
});

Deno.test("runWorkerPool() passes handler and source errors to fail() and waits for every handler", async () => {
  const errors: unknown[] = [];
  let finished = 0;
  async function* source() {
    yield 1;
    yield 2;
    throw new Error("read failed");
  }
  await runWorkerPool(source(), {
    workers: 2,
    handle: async (n) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      finished++;
      if (n === 2) throw new Error("handler failed");
    },
    fail: (error) => errors.push((error as Error).message),
    firstAnswer: Promise.resolve(),
    onFirstDone: () => {},
  });
  assert.equal(finished, 2);
  assert.deepEqual(errors.sort(), ["handler failed", "read failed"]);
});
