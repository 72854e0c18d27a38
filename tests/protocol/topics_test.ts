import assert from "node:assert/strict";
import fc from "fast-check";
import { MeterId } from "../../src/protocol/meter_id.ts";
import {
  announcementFilter,
  announcementTopic,
  BridgeState,
  bridgeTopic,
  MeterAnnouncement,
  readingTopic,
  TopicRoot,
} from "../../src/protocol/topics.ts";

const ID = MeterId.parse("33B1225950027");

Deno.test("TopicRoot accepts plain and nested roots", () => {
  for (const root of ["kpm33b", "site1/kpm33b", "a", "A-b_c/9/x-y", "home/energy/kpm33b"]) {
    assert.equal(TopicRoot.parse(root), root);
  }
});

Deno.test("TopicRoot rejects empty levels, wildcards, $ topics and odd characters", () => {
  for (
    const root of [
      "",
      "a/",
      "/a",
      "a//b",
      "/",
      "a/+",
      "+",
      "#",
      "a/#",
      "$SYS",
      "$SYS/x",
      "a b",
      "a\n",
      "ä",
      "a.b",
      5,
    ]
  ) {
    const result = TopicRoot.safeParse(root);
    assert.equal(result.success, false, JSON.stringify(root));
  }
  assert.equal(
    TopicRoot.safeParse("a//b").error!.issues[0]?.message,
    "topic root must be levels of A-Z a-z 0-9 _ - separated by single '/', e.g. kpm33b",
  );
});

Deno.test("property: a valid root never contains a wildcard, empty level or leading $", () => {
  fc.assert(
    fc.property(
      fc.string({
        unit: fc.constantFrom("a", "Z", "0", "_", "-", "/", "+", "#", "$", " "),
        maxLength: 12,
      }),
      (root) => {
        if (!TopicRoot.safeParse(root).success) return;
        assert.doesNotMatch(root, /[+#$ ]/);
        assert.ok(root.split("/").every((level) => level.length > 0), root);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("topic builders produce the documented strings", () => {
  assert.equal(readingTopic("kpm33b", ID, "seconds"), "kpm33b/33B1225950027/seconds");
  assert.equal(readingTopic("kpm33b", ID, "minutes"), "kpm33b/33B1225950027/minutes");
  assert.equal(readingTopic("site1/kpm33b", ID, "day"), "site1/kpm33b/33B1225950027/day");
  assert.equal(announcementTopic("kpm33b", ID), "kpm33b/discovery/33B1225950027");
  assert.equal(announcementFilter("site1/kpm33b"), "site1/kpm33b/discovery/+");
  assert.equal(bridgeTopic("kpm33b", "state"), "kpm33b/bridge/state");
  assert.equal(bridgeTopic("site1/kpm33b", "outbox"), "site1/kpm33b/bridge/outbox");
});

Deno.test("BridgeState and MeterAnnouncement", () => {
  assert.deepEqual(BridgeState.options, ["online", "offline"]);
  assert.equal(BridgeState.safeParse("Online").success, false);
  const announcement = {
    id: "33B1225950027",
    model: "KPM33B",
    first_seen: "2026-01-12T16:39:00+01:00",
  };
  assert.deepEqual(MeterAnnouncement.parse(announcement), announcement);
  assert.equal(
    MeterAnnouncement.safeParse({ ...announcement, first_seen: "2026-01-12T16:39:00Z" }).success,
    true,
  );
  assert.equal(
    MeterAnnouncement.safeParse({ ...announcement, first_seen: "yesterday" }).success,
    false,
  );
  assert.equal(MeterAnnouncement.safeParse({ ...announcement, id: "../#" }).success, false);
});
