import assert from "node:assert/strict";
import { MeterMemory, SimulatorState } from "../../src/simulator/meter_memory.ts";

const MEMORY = {
  import_kwh: 123.456,
  upload_interval_seconds: 60,
  upload_interval_minutes: 1,
  outputs: 1,
  clock_offset_ms: -5000,
};

Deno.test("a state file maps meter ids to what each meter keeps", () => {
  const state = { version: 1, meters: { "33B1225950027": MEMORY } };
  assert.deepEqual(SimulatorState.parse(state), state);
});

Deno.test("a state file with a bad meter id, version or value is refused", () => {
  assert.equal(SimulatorState.safeParse({ version: 1, meters: { x: MEMORY } }).success, false);
  assert.equal(SimulatorState.safeParse({ version: 2, meters: {} }).success, false);
  for (
    const bad of [
      { import_kwh: -1 },
      { upload_interval_seconds: 0 },
      { upload_interval_minutes: 1.5 },
      { outputs: -1 },
      { clock_offset_ms: "0" },
    ]
  ) {
    assert.equal(MeterMemory.safeParse({ ...MEMORY, ...bad }).success, false, JSON.stringify(bad));
  }
});
