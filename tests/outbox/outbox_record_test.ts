/**
 * The outbox record: read back exactly as written; torn, altered, foreign or
 * garbage files are reported as unreadable, never misread.
 */
import assert from "node:assert/strict";
import {
  decodeOutboxRecord,
  encodeOutboxRecord,
  type OutboxRecord,
  readOutboxRecord,
  recordPathOf,
  writeOutboxRecord,
} from "../../src/outbox/outbox_record.ts";

const DB = "/var/lib/kpm33b/outbox.sqlite";
const RECORD: OutboxRecord = {
  lastSeq: 3050,
  depth: 3000,
  writtenAt: Date.parse("2026-01-12T16:39:00.123Z"),
};

async function tempDir() {
  const path = await Deno.makeTempDir({ prefix: "kpm33b-record-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("a record reads back as written, with a failure or without", () => {
  const text = encodeOutboxRecord(DB, RECORD);
  assert.ok(text.endsWith("}\n"));
  assert.deepEqual(JSON.parse(text), {
    format: 1,
    database: "outbox.sqlite",
    last_seq: 3050,
    depth: 3000,
    written_at: "2026-01-12T16:39:00.123Z",
    failure: null,
    digest: JSON.parse(text).digest,
  });
  assert.deepEqual(decodeOutboxRecord(DB, text), { ok: true, record: RECORD });
  const failed = { ...RECORD, failure: "database disk image is malformed" };
  assert.deepEqual(decodeOutboxRecord(DB, encodeOutboxRecord(DB, failed)), {
    ok: true,
    record: failed,
  });
});

Deno.test("a record cut off at any length is unreadable, never read as other numbers", () => {
  const text = encodeOutboxRecord(DB, RECORD);
  for (let length = 0; length < text.trimEnd().length; length++) {
    const decoded = decodeOutboxRecord(DB, text.slice(0, length));
    assert.equal(decoded.ok, false, `cut at ${length}: ${JSON.stringify(text.slice(0, length))}`);
  }
});

Deno.test("a record mixed from two versions of the same length is caught by its digest", () => {
  const old = encodeOutboxRecord(DB, { ...RECORD, lastSeq: 1111, depth: 1000 });
  const current = encodeOutboxRecord(DB, { ...RECORD, lastSeq: 3050, depth: 3000 });
  assert.equal(old.length, current.length);
  // The first half of the new write over the old file: valid JSON, wrong numbers.
  const split = current.indexOf('"depth"');
  const mixed = current.slice(0, split) + old.slice(split);
  assert.doesNotThrow(() => JSON.parse(mixed));
  assert.deepEqual(decodeOutboxRecord(DB, mixed), {
    ok: false,
    reason: "its digest does not match its content (a torn write?)",
  });
});

Deno.test("garbage, zeros, another file's record and other JSON are unreadable", () => {
  const cases: [string, RegExp][] = [
    ["", /^not JSON \(0 bytes/],
    ["\0".repeat(180), /^not JSON/],
    ["\u00ff\u00fe garbage", /^not JSON/],
    ['{"depth": 3}', /^not an outbox record/],
    [
      encodeOutboxRecord("/var/lib/kpm33b/other.sqlite", RECORD),
      /^it describes other\.sqlite, not outbox\.sqlite$/,
    ],
    [encodeOutboxRecord(DB, RECORD).replace('"format":1', '"format":2'), /^not an outbox record/],
  ];
  for (const [text, reason] of cases) {
    const decoded = decodeOutboxRecord(DB, text);
    assert.equal(decoded.ok, false, JSON.stringify(text));
    assert.match(!decoded.ok ? decoded.reason : "", reason);
  }
});

Deno.test("the record file: absent, written beside the database, replaced whole, unreadable when torn", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/outbox.sqlite`;
  assert.equal(recordPathOf(db), `${db}.json`);
  assert.deepEqual(readOutboxRecord(db), { kind: "absent" });

  writeOutboxRecord(db, RECORD, false);
  assert.deepEqual(readOutboxRecord(db), { kind: "found", record: RECORD });
  const next = { ...RECORD, lastSeq: 4000, depth: 10, writtenAt: RECORD.writtenAt + 1000 };
  writeOutboxRecord(db, next, true);
  assert.deepEqual(readOutboxRecord(db), { kind: "found", record: next });
  assert.deepEqual(
    [...Deno.readDirSync(dir.path)].map((e) => e.name),
    ["outbox.sqlite.json"],
    "no temporary file is left behind",
  );

  const text = await Deno.readTextFile(recordPathOf(db));
  await Deno.writeTextFile(recordPathOf(db), text.slice(0, text.length / 2));
  const torn = readOutboxRecord(db);
  assert.equal(torn.kind, "unreadable");
  await Deno.writeTextFile(recordPathOf(db), "");
  assert.equal(readOutboxRecord(db).kind, "unreadable");
});
