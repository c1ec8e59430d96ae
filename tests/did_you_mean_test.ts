import assert from "node:assert/strict";
import { closestName } from "../lib/cli/did_you_mean.ts";

const commands = ["send", "receipts", "report", "mock", "demo", "simulate"];
const sendFlags = ["--text", "--from", "--rate", "--burst", "--concurrency", "--retry-uncertain"];

Deno.test("closestName() finds a command with a letter missing, added, changed or swapped", () => {
  assert.equal(closestName("snd", commands), "send");
  assert.equal(closestName("sends", commands), "send");
  assert.equal(closestName("semd", commands), "send");
  assert.equal(closestName("sned", commands), "send");
  assert.equal(closestName("reciepts", commands), "receipts");
  assert.equal(closestName("simluate", commands), "simulate");
  assert.equal(closestName("rport", commands), "report");
});

Deno.test("closestName() suggests nothing for a different word", () => {
  assert.equal(closestName("deploy", commands), undefined);
  assert.equal(closestName("x", commands), undefined);
  assert.equal(closestName("--verbose", sendFlags), undefined);
  // Two edits are too many for a four-letter name: "mode" is not "mock".
  assert.equal(closestName("mode", ["mock"]), undefined);
});

Deno.test("closestName() measures flags without their dashes", () => {
  assert.equal(closestName("--rat", sendFlags), "--rate");
  assert.equal(closestName("--txt", sendFlags), "--text");
  assert.equal(closestName("--retry-uncertian", sendFlags), "--retry-uncertain");
  // "--q" is one letter: "--r" would be a wild guess at --rate.
  assert.equal(closestName("--q", ["--rate"]), undefined);
});

Deno.test("closestName() completes a clipped flag only when one flag starts with it", () => {
  assert.equal(closestName("--conc", sendFlags), "--concurrency");
  assert.equal(closestName("--retry", [...sendFlags, "--retry-worker"]), undefined);
  assert.equal(closestName("--co", sendFlags), undefined);
});

Deno.test("closestName() prefers the nearer name, then the one listed first", () => {
  assert.equal(closestName("rate", ["date", "rates"]), "date");
  assert.equal(closestName("rate", ["rates", "date"]), "rates");
  assert.equal(closestName("rate", ["rat", "rate"]), "rate");
});
