import assert from "node:assert/strict";
import { CUMULATIVE_INDICES, registerTag } from "../../src/protocol/plausibility.ts";
import { carryForward, only, resetOf } from "../../src/protocol/register_reset.ts";

const N = CUMULATIVE_INDICES.day.length;
/** Registers of a day reading: `base` everywhere, with `set` overriding some positions. */
const registers = (base: number, set: Record<number, number> = {}) =>
  Array.from({ length: N }, (_, r) => set[r] ?? base);

Deno.test("resetOf names the register that moved most, with its old and new value", () => {
  const from = registers(100, { 3: 5000 });
  const to = registers(100, { 1: 90, 3: 2 });
  assert.deepEqual(resetOf("day", from, to), {
    register: registerTag("day", 3).tag,
    from: 5000,
    to: 2,
  });
});

Deno.test("resetOf never chooses a register without value on either side", () => {
  const from = registers(10, { 0: NaN, 5: 50 });
  const to = registers(10, { 0: 1e9, 5: 0 });
  const reset = resetOf("day", from, to);
  assert.equal(reset.register, registerTag("day", 5).tag);
  assert.deepEqual([reset.from, reset.to], [50, 0]);
});

Deno.test("resetOf picks the first register when none moved", () => {
  const same = registers(7);
  assert.deepEqual(resetOf("day", same, same), {
    register: registerTag("day", 0).tag,
    from: 7,
    to: 7,
  });
});

Deno.test("carryForward keeps a complete reading's registers as they are", () => {
  const last = { registers: registers(1), carried: 0, instant: 1000, at: 1500 };
  const next = registers(2);
  const carried = carryForward(last, next);
  assert.equal(carried.registers, next);
  assert.equal(carried.carried, 0);
  assert.equal(carried.carriedFrom, undefined);
});

Deno.test("carryForward fills a register the reading lacks and marks it carried from the last point", () => {
  const last = { registers: registers(1, { 2: 40 }), carried: 0, instant: 1000, at: 1500 };
  const carried = carryForward(last, registers(2, { 2: NaN, 4: NaN }));
  assert.deepEqual(carried.registers, registers(2, { 2: 40, 4: 1 }));
  assert.equal(carried.carried, (1 << 2) | (1 << 4));
  assert.deepEqual(carried.carriedFrom, { instant: 1000, at: 1500 });
});

Deno.test("carryForward keeps where the oldest carried value stood", () => {
  const last = {
    registers: registers(1),
    carried: 1 << 2,
    carriedFrom: { instant: 10, at: 20 },
    instant: 1000,
    at: 1500,
  };
  const carried = carryForward(last, registers(2, { 2: NaN }));
  assert.deepEqual(carried.carriedFrom, { instant: 10, at: 20 });
});

Deno.test("carryForward does not mark a register that had no value before either", () => {
  const last = { registers: registers(1, { 3: NaN }), carried: 0, instant: 1000 };
  const carried = carryForward(last, registers(2, { 3: NaN }));
  assert.equal(carried.carried, 0);
  assert.ok(Number.isNaN(carried.registers[3]));
});

Deno.test("only keeps the registers whose bit is set", () => {
  assert.deepEqual(only([1, 2, 3, 4], 0b0101), [1, NaN, 3, NaN]);
  assert.deepEqual(only([1, 2, 3], ~0b010), [1, NaN, 3]);
  assert.deepEqual(only([1, 2], 0), [NaN, NaN]);
});
