import assert from "node:assert/strict";
import { ioPayload } from "../../src/protocol/io_state.ts";

Deno.test("DI@DO bit masks become ON/OFF per input and output", () => {
  assert.deepEqual(ioPayload("00000003@00000001"), {
    di1: "ON",
    di2: "ON",
    do1: "ON",
    do2: "OFF",
    raw: "00000003@00000001",
  });
  assert.deepEqual(ioPayload("2@0"), { di1: "OFF", di2: "ON", do1: "OFF", do2: "OFF", raw: "2@0" });
  assert.equal(ioPayload("0000000a@0000000F").do2, "ON");
});
