import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { isOutage, rideThrough } from "../lib/redis/ride_through.ts";
import type { RedisCommander } from "../lib/redis/connect.ts";

function failing(times: number, error: () => Error): RedisCommander & { calls: number } {
  const commander = {
    calls: 0,
    sendCommand(_args: string[]): Promise<unknown> {
      commander.calls++;
      return commander.calls <= times ? Promise.reject(error()) : Promise.resolve("PONG");
    },
  };
  return commander;
}

Deno.test("rideThrough() sends a command again after a dropped connection, with jittered pauses", async () => {
  const clock = new FakeClock();
  const inner = failing(3, () => new Error("read ECONNRESET"));
  let outages = 0;
  const redis = rideThrough(inner, { clock, random: () => 0, onOutage: () => outages++ });
  const reply = redis.sendCommand(["PING"]);
  const answered = await clock.runAll().then(() => reply);
  assert.equal(answered, "PONG");
  assert.equal(inner.calls, 4);
  assert.equal(outages, 1);
  // Pauses of half of 50, 100, 200 ms (random 0): 175 ms in all.
  assert.equal(clock.now(), 175);
});

Deno.test("rideThrough() passes on an answer about the command itself at once", async () => {
  const inner = failing(1, () => new Error("NOGROUP No such key"));
  const redis = rideThrough(inner, { clock: new FakeClock() });
  await assert.rejects(redis.sendCommand(["XREADGROUP"]), /NOGROUP/);
  assert.equal(inner.calls, 1);
});

Deno.test("rideThrough() gives up once the outage lasted outageMs", async () => {
  const clock = new FakeClock();
  const inner = failing(Infinity, () => new Error("connect ECONNREFUSED 127.0.0.1:6379"));
  const redis = rideThrough(inner, { clock, outageMs: 5_000, random: () => 0.5 });
  const reply = redis.sendCommand(["PING"]).then(() => "answered", (error: Error) => error.message);
  await clock.runAll();
  assert.equal(await reply, "connect ECONNREFUSED 127.0.0.1:6379");
  assert.ok(clock.now() >= 5_000 && clock.now() < 6_000, String(clock.now()));
});

Deno.test("isOutage() tells dropped connections from other errors", () => {
  assert.equal(isOutage(new Error("read ECONNRESET")), true);
  assert.equal(isOutage(Object.assign(new Error("x"), { code: "EPIPE" })), true);
  assert.equal(isOutage(new TypeError("bad argument")), false);
  assert.equal(isOutage("ECONNRESET"), false);
});
