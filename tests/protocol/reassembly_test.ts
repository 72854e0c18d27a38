import assert from "node:assert/strict";
import fc from "fast-check";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { LAYOUTS, type Reading, valueOf } from "../../src/protocol/reading.ts";
import { Reassembler } from "../../src/protocol/reassembly.ts";
import type { ReadingLevel } from "../../src/protocol/uplink.ts";

const A = MeterId.parse("37A1225950001");
const B = MeterId.parse("37A1225950002");
const T1 = "20260112163900";
const T2 = "20260112164000";

function packet(
  level: ReadingLevel,
  id: MeterId,
  time: string,
  final: boolean,
  tags: Record<string, number>,
): Reading {
  const layout = LAYOUTS[level];
  const values = new Array<number>(layout.tags.length).fill(NaN);
  for (const [tag, value] of Object.entries(tags)) {
    const i = layout.index.get(tag);
    assert.ok(i !== undefined, `unknown tag ${tag}`);
    values[i] = value;
  }
  return { level, id, time, final, values };
}

const LIMITS = { maxPending: 100, maxAgeMs: 60_000 };

Deno.test("a single final packet passes straight through", () => {
  const r = new Reassembler(LIMITS);
  const p = packet("seconds", A, T1, true, { zyggl: 6.6905, ua: 230 });
  const step = r.add(p, 1000);
  assert.equal(step.complete, p);
  assert.deepEqual(step.expired, []);
  assert.equal(r.pending, 0);
});

Deno.test("split packets (isend 0, 0, 1) merge into one reading", () => {
  const r = new Reassembler(LIMITS);
  const s1 = r.add(packet("seconds", A, T1, false, { ua: 230, ub: 231 }), 1000);
  assert.equal(s1.complete, undefined);
  assert.equal(r.pending, 1);
  const s2 = r.add(packet("seconds", A, T1, false, { ub: 232, ia: 9.7 }), 1100);
  assert.equal(s2.complete, undefined);
  assert.equal(r.pending, 1);
  const s3 = r.add(packet("seconds", A, T1, true, { ia: 9.8, zyggl: 6.6905 }), 1200);
  assert.equal(r.pending, 0);
  const done = s3.complete!;
  assert.ok(done);
  assert.equal(done.final, true);
  assert.equal(done.id, A);
  assert.equal(done.time, T1);
  assert.equal(done.level, "seconds");
  assert.equal(valueOf(done, "ua"), 230); // only in the first packet: kept
  assert.equal(valueOf(done, "ub"), 232); // later value wins
  assert.equal(valueOf(done, "ia"), 9.8); // later value wins
  assert.equal(valueOf(done, "zyggl"), 6.6905);
  assert.equal(valueOf(done, "uc"), null); // never sent
  assert.deepEqual([s1.expired, s2.expired, s3.expired], [[], [], []]);
});

Deno.test("a later packet without a tag does not erase an earlier value", () => {
  const r = new Reassembler(LIMITS);
  r.add(packet("minutes", A, T1, false, { zygsz: 163.486, fygsz: 0 }), 0);
  const done = r.add(packet("minutes", A, T1, true, { zwgsz: 1 }), 1).complete!;
  assert.equal(valueOf(done, "zygsz"), 163.486);
  assert.equal(valueOf(done, "fygsz"), 0);
  assert.equal(valueOf(done, "zwgsz"), 1);
});

Deno.test("different times, ids or levels do not merge", () => {
  const r = new Reassembler(LIMITS);
  r.add(packet("seconds", A, T1, false, { ua: 1 }), 0);
  r.add(packet("seconds", A, T2, false, { ub: 2 }), 0);
  r.add(packet("seconds", B, T1, false, { uc: 3 }), 0);
  r.add(packet("minutes", A, T1, false, { zygsz: 4 }), 0);
  assert.equal(r.pending, 4);

  const a1 = r.add(packet("seconds", A, T1, true, { ia: 5 }), 1).complete!;
  assert.deepEqual(
    [valueOf(a1, "ua"), valueOf(a1, "ub"), valueOf(a1, "uc"), valueOf(a1, "ia")],
    [1, null, null, 5],
  );
  const a2 = r.add(packet("seconds", A, T2, true, {}), 1).complete!;
  assert.deepEqual([valueOf(a2, "ua"), valueOf(a2, "ub"), valueOf(a2, "uc")], [null, 2, null]);
  const b1 = r.add(packet("seconds", B, T1, true, {}), 1).complete!;
  assert.equal(b1.id, B);
  assert.deepEqual([valueOf(b1, "ua"), valueOf(b1, "ub"), valueOf(b1, "uc")], [null, null, 3]);
  const m1 = r.add(packet("minutes", A, T1, true, { fygsz: 6 }), 1).complete!;
  assert.equal(m1.level, "minutes");
  assert.equal(valueOf(m1, "zygsz"), 4);
  assert.equal(valueOf(m1, "fygsz"), 6);
  assert.equal(r.pending, 0);
});

Deno.test("a final packet for another time leaves the pending reading alone", () => {
  const r = new Reassembler(LIMITS);
  r.add(packet("seconds", A, T1, false, { ua: 1 }), 0);
  const other = packet("seconds", A, T2, true, { ub: 2 });
  assert.equal(r.add(other, 1).complete, other);
  assert.equal(r.pending, 1);
});

Deno.test("maxPending evicts the oldest incomplete reading", () => {
  const r = new Reassembler({ maxPending: 2, maxAgeMs: 60_000 });
  const first = packet("seconds", A, T1, false, { ua: 1 });
  r.add(first, 0);
  r.add(packet("seconds", A, T1, false, { ub: 2 }), 1); // second packet of the first reading
  assert.deepEqual(r.add(packet("seconds", B, T1, false, { ua: 3 }), 2).expired, []);
  assert.equal(r.pending, 2);
  const step = r.add(packet("seconds", A, T2, false, { ua: 4 }), 3);
  assert.equal(step.complete, undefined);
  assert.equal(step.expired.length, 1);
  const [evicted] = step.expired;
  assert.ok(evicted !== undefined);
  assert.equal(evicted.cause, "evicted");
  assert.equal(evicted.packets, 2);
  assert.equal(evicted.reading.id, A);
  assert.equal(evicted.reading.time, T1);
  assert.equal(valueOf(evicted.reading, "ua"), 1);
  assert.equal(valueOf(evicted.reading, "ub"), 2);
  assert.equal(r.pending, 2);
  // The evicted reading's final packet now passes alone.
  const late = r.add(packet("seconds", A, T1, true, { uc: 5 }), 4).complete!;
  assert.deepEqual([valueOf(late, "ua"), valueOf(late, "uc")], [null, 5]);
});

Deno.test("maxAgeMs expires incomplete readings with cause timeout", () => {
  const r = new Reassembler({ maxPending: 100, maxAgeMs: 60_000 });
  r.add(packet("seconds", A, T1, false, { ua: 1 }), 1_000);
  r.add(packet("seconds", B, T1, false, { ua: 2 }), 30_000);
  assert.deepEqual(r.expire(60_999), []);
  assert.equal(r.pending, 2);
  const expired = r.expire(61_000); // exactly maxAgeMs after the first packet
  assert.equal(expired.length, 1);
  assert.equal(expired[0]?.cause, "timeout");
  assert.equal(expired[0]?.reading.id, A);
  assert.equal(expired[0]?.packets, 1);
  assert.equal(r.pending, 1);
  // add() expires too, before handling its packet.
  const step = r.add(packet("minutes", A, T2, true, { zygsz: 1 }), 200_000);
  assert.equal(step.complete?.level, "minutes");
  assert.equal(step.expired.length, 1);
  assert.equal(step.expired[0]?.reading.id, B);
  assert.equal(step.expired[0]?.cause, "timeout");
  assert.equal(r.pending, 0);
});

Deno.test("age counts from the first packet, not the latest", () => {
  const r = new Reassembler({ maxPending: 100, maxAgeMs: 10_000 });
  r.add(packet("seconds", A, T1, false, { ua: 1 }), 0);
  r.add(packet("seconds", A, T1, false, { ub: 1 }), 9_000);
  const step = r.add(packet("seconds", B, T1, true, { ua: 1 }), 10_000);
  assert.equal(step.expired.length, 1);
  assert.equal(step.expired[0]?.packets, 2);
  assert.equal(step.expired[0]?.cause, "timeout");
});

Deno.test("KPM37-style split: 9 packets of MQTT_RT_DATA form one reading", () => {
  const r = new Reassembler(LIMITS);
  const tags = LAYOUTS.seconds.tags;
  const chunks = Array.from({ length: 9 }, (_, n) => tags.filter((_, i) => i % 9 === n));
  let done: Reading | undefined;
  chunks.forEach((chunk, n) => {
    const values = Object.fromEntries(
      chunk.map((tag) => [tag, LAYOUTS.seconds.index.get(tag)! + 0.5]),
    );
    const step = r.add(packet("seconds", A, T1, n === 8, values), 1000 + n * 200);
    assert.deepEqual(step.expired, []);
    if (n < 8) assert.equal(step.complete, undefined, `packet ${n + 1}`);
    else done = step.complete;
  });
  assert.ok(done);
  assert.equal(r.pending, 0);
  tags.forEach((tag, i) => assert.equal(valueOf(done!, tag), i + 0.5, tag));
});

Deno.test("property: interleaved split readings of many meters each merge to their own values", () => {
  const ids = ["37A0000000001", "37A0000000002", "37A0000000003"].map((t) => MeterId.parse(t));
  const tags = LAYOUTS.seconds.tags;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          id: fc.constantFrom(...ids),
          packets: fc.array(
            fc.dictionary(fc.constantFrom(...tags), fc.double({ noNaN: true }), { maxKeys: 6 }),
            { minLength: 1, maxLength: 5 },
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ).map((rs) =>
        rs.map((rd, n) => ({ ...rd, time: `202601121639${String(n).padStart(2, "0")}` }))
      ),
      fc.infiniteStream(fc.nat()),
      (readings, choices) => {
        const r = new Reassembler(LIMITS);
        const cursors = readings.map((rd) => ({ rd, next: 0 }));
        const completed = new Map<string, Reading>();
        while (cursors.some(({ rd, next }) => next < rd.packets.length)) {
          const open = cursors.filter(({ rd, next }) => next < rd.packets.length);
          const cursor = open[choices.next().value % open.length];
          assert.ok(cursor !== undefined);
          const { rd } = cursor;
          const n = cursor.next++;
          const values = rd.packets[n];
          assert.ok(values !== undefined);
          const step = r.add(
            packet("seconds", rd.id, rd.time, n === rd.packets.length - 1, values),
            0,
          );
          assert.deepEqual(step.expired, []);
          if (step.complete) completed.set(`${rd.id}|${rd.time}`, step.complete);
        }
        assert.equal(r.pending, 0);
        for (const rd of readings) {
          const done = completed.get(`${rd.id}|${rd.time}`)!;
          assert.ok(done);
          const expected = Object.assign({}, ...rd.packets) as Record<string, number>;
          for (const tag of tags) assert.equal(valueOf(done, tag), expected[tag] ?? null, tag);
        }
      },
    ),
    { numRuns: 200 },
  );
});
