import assert from "node:assert/strict";
import { localDay, rotatedPaths, rotationDue } from "../../src/logging/rotation.ts";

const daily = { daily: true, maxBytes: 0, keep: 7 };
const sized = { daily: false, maxBytes: 100, keep: 3 };

Deno.test("localDay is the local calendar day", () => {
  assert.equal(localDay(new Date(2026, 0, 5, 23, 59, 59)), "2026-01-05");
  assert.equal(localDay(new Date(2026, 11, 31, 0, 0, 0)), "2026-12-31");
});

Deno.test("daily rotation starts a new file on the first line of another day", () => {
  assert.equal(rotationDue({ bytes: 10, day: "2026-12-02" }, 5, "2026-12-02", daily), false);
  assert.equal(rotationDue({ bytes: 10, day: "2026-12-02" }, 5, "2026-12-03", daily), true);
  assert.equal(rotationDue({ bytes: 10, day: "2026-12-02" }, 5, "2026-12-03", sized), false);
});

Deno.test("size rotation happens before the file would grow beyond the limit", () => {
  assert.equal(rotationDue({ bytes: 95, day: "d" }, 5, "d", sized), false);
  assert.equal(rotationDue({ bytes: 95, day: "d" }, 6, "d", sized), true);
  assert.equal(rotationDue({ bytes: 10 ** 9, day: "d" }, 6, "d", daily), false, "0 is no limit");
});

Deno.test("an empty file never rotates, so an oversized line goes into a fresh file", () => {
  assert.equal(
    rotationDue({ bytes: 0, day: "2020-01-01" }, 500, "2026-12-03", {
      daily: true,
      maxBytes: 100,
      keep: 1,
    }),
    false,
  );
});

Deno.test("rotated files are numbered newest first", () => {
  assert.deepEqual(rotatedPaths("/var/log/kpm33b/bridge.log", 3), [
    "/var/log/kpm33b/bridge.log.1",
    "/var/log/kpm33b/bridge.log.2",
    "/var/log/kpm33b/bridge.log.3",
  ]);
});
