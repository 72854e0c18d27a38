import assert from "node:assert/strict";
import { PacedQueue } from "../../src/runtime/paced_queue.ts";

const T0 = 1_000_000;

function queue(rate: number, burst: number, cost = (_: string) => 1) {
  const sent: string[] = [];
  const paced = new PacedQueue<string>(
    { ratePerSecond: rate, burst },
    (key) => {
      sent.push(key);
      return cost(key);
    },
    T0,
  );
  return { paced, sent };
}

Deno.test("keys go out in order, at most the rate allows, each once", () => {
  const { paced, sent } = queue(2, 2);
  for (const key of ["a", "b", "c", "a", "d"]) paced.add(key);
  assert.equal(paced.size, 4);
  assert.equal(paced.drain(T0), 2);
  assert.deepEqual(sent, ["a", "b"]);
  assert.equal(paced.drain(T0 + 499), 0);
  assert.equal(paced.drain(T0 + 500), 1);
  assert.equal(paced.drain(T0 + 999), 0);
  assert.equal(paced.drain(T0 + 1000), 1);
  assert.deepEqual(sent, ["a", "b", "c", "d"]);
  assert.equal(paced.size, 0);
});

Deno.test("a key's messages count against the rate; a key that sent nothing costs nothing", () => {
  const { paced, sent } = queue(4, 4, (key) => key === "big" ? 4 : key === "none" ? 0 : 1);
  for (const key of ["none", "big", "x"]) paced.add(key);
  paced.drain(T0);
  assert.deepEqual(sent, ["none", "big"]);
  assert.equal(paced.drain(T0 + 249), 0);
  assert.equal(paced.drain(T0 + 250), 1);
});

Deno.test("delete takes a key out; a new rate applies to what waits", () => {
  const { paced, sent } = queue(1, 1);
  for (const key of ["a", "b", "c"]) paced.add(key);
  paced.delete("b");
  assert.equal(paced.size, 2);
  paced.drain(T0);
  paced.setRate({ ratePerSecond: 1000, burst: 1000 });
  paced.drain(T0 + 1000);
  assert.deepEqual(sent, ["a", "c"]);
});
