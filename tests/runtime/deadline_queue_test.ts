import assert from "node:assert/strict";
import fc from "fast-check";
import { DeadlineQueue } from "../../src/runtime/deadline_queue.ts";

Deno.test("a key is due once its timeout passed since its last set", () => {
  const queue = new DeadlineQueue<string>();
  queue.set("a", 0, 100);
  queue.set("b", 10, 100);
  queue.set("a", 50, 100);
  assert.deepEqual(queue.expire(109), []);
  assert.deepEqual(queue.expire(110), ["b"]);
  assert.deepEqual(queue.expire(150), ["a"]);
  assert.equal(queue.size, 0);
});

Deno.test("keys with different timeouts expire by their own deadline", () => {
  const queue = new DeadlineQueue<string>();
  queue.set("slow", 0, 1000);
  queue.set("fast", 500, 100);
  assert.deepEqual(queue.expire(600), ["fast"]);
  queue.delete("slow");
  assert.equal(queue.size, 0);
  assert.deepEqual(queue.expire(5000), []);
});

Deno.test("property: expire returns exactly the keys a full scan finds due", () => {
  const op = fc.record({
    key: fc.nat(20),
    dt: fc.nat(50),
    timeout: fc.constantFrom(100, 250, 1000),
    kind: fc.constantFrom("set", "set", "delete", "expire"),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const queue = new DeadlineQueue<number>();
      const model = new Map<number, number>();
      let now = 0;
      for (const { key, dt, timeout, kind } of ops) {
        now += dt;
        if (kind === "set") {
          queue.set(key, now, timeout);
          model.set(key, now + timeout);
        } else if (kind === "delete") {
          queue.delete(key);
          model.delete(key);
        } else {
          const due = [...model].filter(([, deadline]) => deadline <= now).map(([k]) => k);
          for (const k of due) model.delete(k);
          assert.deepEqual(queue.expire(now).sort((a, b) => a - b), due.sort((a, b) => a - b));
        }
        assert.equal(queue.size, model.size);
      }
    }),
    { numRuns: 300 },
  );
});
