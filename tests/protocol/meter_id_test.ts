import assert from "node:assert/strict";
import fc from "fast-check";
import {
  commandSuffix,
  isMeterId,
  METER_ID_PATTERN,
  MeterId,
  modelOf,
} from "../../src/protocol/meter_id.ts";

const ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const idChar = fc.constantFrom(...ID_CHARS);

function id(text: string): MeterId {
  return MeterId.parse(text);
}

Deno.test("MeterId accepts real meter codes", () => {
  for (
    const text of [
      "33B1225950027",
      "3121225950001",
      "37A0000000000",
      "0000000000000",
      "ZZZZZZZZZZZZZ",
    ]
  ) {
    assert.equal(MeterId.safeParse(text).success, true, text);
    assert.equal(isMeterId(text), true, text);
    assert.equal(MeterId.parse(text), text);
  }
});

Deno.test("MeterId rejects topic wildcards, path tricks, wrong lengths, lower case and unicode", () => {
  const bad = [
    "",
    "../#",
    "+",
    "#",
    "33B122595002", // 12
    "33B12259500277", // 14
    "33b1225950027", // lower case
    "33B122595002/",
    "33B122595002+",
    "33B122595002#",
    "33B 225950027",
    "33B1225950027\n",
    " 33B1225950027",
    "33B12259500２7", // full-width digit
    "33B122595002É",
    "33B1225950027".replace("7", "\u0000"),
  ];
  for (const text of bad) {
    assert.equal(MeterId.safeParse(text).success, false, JSON.stringify(text));
    assert.equal(isMeterId(text), false, JSON.stringify(text));
  }
});

Deno.test("MeterId rejection carries the documented message", () => {
  const result = MeterId.safeParse("../#");
  assert.equal(result.success, false);
  assert.equal(
    result.error!.issues[0]?.message,
    "meter id must be exactly 13 characters 0-9 or A-Z",
  );
});

Deno.test("isMeterId rejects non-strings", () => {
  for (
    const value of [
      undefined,
      null,
      3312259500270,
      33,
      true,
      {},
      [],
      ["33B1225950027"],
      new String("33B1225950027"),
    ]
  ) {
    assert.equal(isMeterId(value), false, String(value));
    assert.equal(MeterId.safeParse(value).success, false, String(value));
  }
});

Deno.test("property: isMeterId and the schema agree with the 13-char [0-9A-Z] definition", () => {
  const candidate = fc.oneof(
    fc.array(idChar, { minLength: 11, maxLength: 15 }).map((cs) => cs.join("")),
    fc.string({ minLength: 11, maxLength: 15 }),
    fc.string({ unit: "grapheme", minLength: 13, maxLength: 13 }),
  );
  fc.assert(
    fc.property(candidate, (text) => {
      const expected = text.length === 13 && [...text].every((c) => ID_CHARS.includes(c));
      assert.equal(isMeterId(text), expected);
      assert.equal(MeterId.safeParse(text).success, expected);
      assert.equal(METER_ID_PATTERN.test(text), expected);
    }),
    { numRuns: 500 },
  );
});

Deno.test("modelOf recognises models by prefix, longest prefix first", () => {
  const cases: Array<[string, string]> = [
    ["33B1225950027", "KPM33B"],
    ["33A1225950027", "KPM33A"],
    ["3301225950027", "KPM33"],
    ["3121225950001", "KPM312"],
    ["31A1225950001", "KPM31A"],
    ["31B1225950001", "KPM31B"],
    ["31C1225950001", "KPM31C"],
    ["3101225950001", "KPM31"],
    ["3131225950001", "KPM31"],
    ["3701225950001", "KPM37"],
    ["37B1225950001", "KPM37"],
    ["3000000000000", "unknown"],
    ["1234567890123", "unknown"],
    ["ABCDEFGHIJKLM", "unknown"],
  ];
  for (const [text, model] of cases) assert.equal(modelOf(id(text)), model, text);
});

Deno.test("commandSuffix is the last 8 characters", () => {
  assert.equal(commandSuffix(id("33B1225950028")), "25950028");
  assert.equal(commandSuffix(id("33B1225950027")), "25950027");
  assert.equal(commandSuffix(id("ABCDEFGHIJKLM")), "FGHIJKLM");
  fc.assert(
    fc.property(fc.array(idChar, { minLength: 13, maxLength: 13 }), (cs) => {
      const text = cs.join("");
      const suffix = commandSuffix(id(text));
      assert.equal(suffix.length, 8);
      assert.equal(text.slice(0, 5) + suffix, text);
    }),
    { numRuns: 200 },
  );
});
