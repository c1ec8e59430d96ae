import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { realClock } from "../lib/core/clock.ts";

Deno.test("FakeClock.advance() wakes sleepers in time order and runs their continuations", async () => {
  const clock = new FakeClock();
  const order: Array<[string, number]> = [];
  const a = clock.sleep(300).then(() => order.push(["a", clock.now()]));
  const b = clock.sleep(100).then(async () => {
    order.push(["b", clock.now()]);
    await clock.sleep(50);
    order.push(["b2", clock.now()]);
  });
  const c = clock.sleep(100).then(() => order.push(["c", clock.now()]));
  await clock.advance(200);
  assert.deepEqual(order, [["b", 100], ["c", 100], ["b2", 150]]);
  assert.equal(clock.now(), 200);
  await clock.advance(100);
  await Promise.all([a, b, c]);
  assert.deepEqual(order.at(-1), ["a", 300]);
});

Deno.test("FakeClock.sleep() on an aborted signal rejects with signal.reason", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(clock.sleep(10, controller.signal), (e) => e === reason);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("FakeClock.sleep() rejects at once when aborted mid-sleep and forgets the sleeper", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const sleeping = clock.sleep(1_000, controller.signal);
  assert.equal(clock.pendingSleepers, 1);
  controller.abort(new Error("cancelled"));
  await assert.rejects(sleeping, /cancelled/);
  assert.equal(clock.pendingSleepers, 0);
  assert.equal(clock.now(), 0);
});

Deno.test("FakeClock.runAll() advances until nobody sleeps", async () => {
  const clock = new FakeClock(1_000);
  let hops = 0;
  const loop = (async () => {
    while (hops < 5) {
      await clock.sleep(250);
      hops++;
    }
  })();
  assert.equal(await clock.runAll(), 2_250);
  await loop;
  assert.equal(hops, 5);
});

Deno.test("FakeClock.advance() rejects a negative step", async () => {
  await assert.rejects(new FakeClock().advance(-1), RangeError);
});

Deno.test("realClock.sleep() leaves no timer behind when aborted", async () => {
  const controller = new AbortController();
  const sleeping = realClock.sleep(60_000, controller.signal);
  controller.abort(new Error("bye"));
  await assert.rejects(sleeping, /bye/);
});
