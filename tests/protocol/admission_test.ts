import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type AdmissionOptions,
  type AdmissionVerdict,
  MeterAdmission,
  MeterIdPattern,
} from "../../src/protocol/admission.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const T0 = 1_000_000;

const OPTIONS: AdmissionOptions = { newPerMinute: 60, burst: 3, allow: [], maxRemembered: 1000 };

function admission(options: Partial<AdmissionOptions> = {}, now = T0): MeterAdmission {
  return new MeterAdmission({ ...OPTIONS, ...options }, now);
}

const id = (n: number) => MeterId.parse(`33B${String(n).padStart(10, "0")}`);
const admitted = (verdict: AdmissionVerdict) => verdict.admitted;
const code = (verdict: AdmissionVerdict) => verdict.admitted ? "admitted" : verdict.code;

const ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const meterId = fc.array(fc.constantFrom(...ID_CHARS), { minLength: 13, maxLength: 13 })
  .map((chars) => MeterId.parse(chars.join("")));

Deno.test("new meters: the burst at once, then new_per_minute", () => {
  const a = admission();
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => code(a.check(id(n), false, T0))), [
    "admitted",
    "admitted",
    "admitted",
    "not_admitted",
    "not_admitted",
  ]);
  // 60 a minute: one a second.
  assert.equal(code(a.check(id(4), false, T0 + 999)), "not_admitted");
  assert.deepEqual(a.check(id(4), false, T0 + 1000), { admitted: true, counted: true });
  assert.equal(code(a.check(id(5), false, T0 + 1000)), "not_admitted");
  assert.equal(code(a.check(id(5), false, T0 + 2000)), "admitted");
});

Deno.test("a refusal names the config keys and says the meter is admitted later", () => {
  const a = admission({ burst: 1 });
  a.check(id(1), false, T0);
  const refused = a.check(id(2), false, T0);
  assert.equal(refused.admitted, false);
  if (refused.admitted) return;
  assert.match(refused.reason, /^new meter 33B0000000002 refused/);
  assert.match(refused.reason, /meters\.admission\.burst/);
  assert.match(refused.reason, /meters\.admission\.new_per_minute/);
  assert.match(refused.reason, /admitted with a later reading/);
});

Deno.test("known meters pass without a token, also when none is left", () => {
  const a = admission({ burst: 1 });
  assert.deepEqual(a.check(id(1), false, T0), { admitted: true, counted: true });
  for (let n = 100; n < 1100; n++) {
    assert.deepEqual(a.check(id(n), true, T0), { admitted: true, counted: false });
  }
  assert.equal(code(a.check(id(2), false, T0)), "not_admitted");
  // Known meters took no token: the next one is there after one second.
  assert.equal(code(a.check(id(2), false, T0 + 1000)), "admitted");
});

Deno.test("an admitted meter stays admitted without counting again", () => {
  const a = admission({ burst: 2 });
  a.check(id(1), false, T0);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(a.check(id(1), false, T0), { admitted: true, counted: false });
  }
  assert.equal(code(a.check(id(2), false, T0)), "admitted");
  assert.equal(code(a.check(id(3), false, T0)), "not_admitted");
});

Deno.test("ids admitted are remembered up to maxRemembered, the oldest forgotten first", () => {
  const a = admission({ burst: 10, maxRemembered: 2 });
  for (const n of [1, 2, 3]) a.check(id(n), false, T0);
  assert.deepEqual(a.check(id(3), false, T0), { admitted: true, counted: false });
  assert.deepEqual(a.check(id(2), false, T0), { admitted: true, counted: false });
  assert.deepEqual(a.check(id(1), false, T0), { admitted: true, counted: true });
  a.reconfigure({ ...OPTIONS, burst: 10, maxRemembered: 1 });
  assert.deepEqual(a.check(id(1), false, T0), { admitted: true, counted: false });
  assert.deepEqual(a.check(id(2), false, T0), { admitted: true, counted: true });
});

Deno.test("new_per_minute 0 admits every new meter", () => {
  const a = admission({ newPerMinute: 0, burst: 1 });
  for (let n = 0; n < 5000; n++) assert.ok(admitted(a.check(id(n), false, T0)));
});

Deno.test("a refused meter is admitted with a later reading once a token is back", () => {
  const a = admission({ newPerMinute: 6, burst: 1 });
  a.check(id(1), false, T0);
  const retries = [0, 2000, 4000, 6000, 8000, 10_000].map((t) =>
    code(a.check(id(2), false, T0 + t))
  );
  assert.deepEqual(retries, [
    "not_admitted",
    "not_admitted",
    "not_admitted",
    "not_admitted",
    "not_admitted",
    "admitted",
  ]);
});

Deno.test("the allow-list: whole ids and prefixes; others are not_allowed, known or not", () => {
  const a = admission({ allow: ["33B1225950027", "33B12259501*"], burst: 1 });
  assert.equal(a.allows(MeterId.parse("33B1225950027")), true);
  assert.equal(a.allows(MeterId.parse("33B1225950100")), true);
  assert.equal(a.allows(MeterId.parse("33B1225950199")), true);
  assert.equal(a.allows(MeterId.parse("33B1225950028")), false);
  assert.equal(a.allows(MeterId.parse("33B1225950200")), false);
  const outside = a.check(MeterId.parse("33B1225950028"), true, T0);
  assert.equal(code(outside), "not_allowed");
  if (!outside.admitted) {
    assert.match(outside.reason, /meters\.admission\.allow/);
    assert.match(outside.reason, /33B12259500\*/);
  }
});

Deno.test("ids the allow-list names whole pass without a token; pattern matches count", () => {
  const listed = Array.from({ length: 50 }, (_, n) => id(n));
  const a = admission({ allow: [...listed, "44*"], burst: 1 });
  for (const meter of listed) {
    assert.deepEqual(a.check(meter, false, T0), { admitted: true, counted: false });
  }
  assert.deepEqual(a.check(MeterId.parse("4400000000001"), false, T0), {
    admitted: true,
    counted: true,
  });
  assert.equal(code(a.check(MeterId.parse("4400000000002"), false, T0)), "not_admitted");
});

Deno.test("an empty allow-list allows every id; * allows every id", () => {
  fc.assert(fc.property(meterId, (meter) => {
    assert.equal(admission().allows(meter), true);
    assert.equal(admission({ allow: ["*"] }).allows(meter), true);
  }));
});

Deno.test("reconfigure applies a new allow-list and rate, keeping what was admitted", () => {
  const a = admission({ burst: 1 });
  a.check(id(1), false, T0);
  a.reconfigure({ ...OPTIONS, burst: 1, allow: ["33B0000000001"] });
  assert.equal(code(a.check(id(2), false, T0 + 5000)), "not_allowed");
  assert.equal(code(a.check(id(1), false, T0 + 5000)), "admitted");
  a.reconfigure({ ...OPTIONS, newPerMinute: 0, burst: 1 });
  for (let n = 10; n < 20; n++) assert.equal(code(a.check(id(n), false, T0 + 5000)), "admitted");
});

Deno.test("MeterIdPattern: whole ids and prefixes ending in *", () => {
  for (const ok of ["33B1225950027", "33B12259500*", "*", "3*", "ABCDEFGHIJKL*"]) {
    assert.equal(MeterIdPattern.safeParse(ok).success, true, ok);
  }
});

Deno.test("MeterIdPattern refuses hostile and mistaken patterns with an actionable message", () => {
  const hostile = [
    "",
    "33b1225950027",
    "33B122595002",
    "33B12259500270",
    "33B1225950027*",
    "33B.*",
    ".*",
    "*33B",
    "33B**",
    "33B?",
    "33B[0-9]*",
    "33B/#",
    "33B+",
    "33B\n*",
    "x".repeat(10_000),
  ];
  for (const text of hostile) {
    const parsed = MeterIdPattern.safeParse(text);
    assert.equal(parsed.success, false, JSON.stringify(text));
    assert.match(
      parsed.error!.issues[0]?.message ?? "",
      /prefix ending in \*, e\.g\. 33B12259500\*/,
    );
  }
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (text) => {
    const parsed = MeterIdPattern.safeParse(text);
    if (!parsed.success) return;
    assert.match(text, /^(?:[0-9A-Z]{13}|[0-9A-Z]{0,12}\*)$/);
  }));
});

Deno.test("a prefix matches exactly the ids starting with it, never as a regex", () => {
  fc.assert(fc.property(
    meterId,
    fc.array(fc.constantFrom(...ID_CHARS), { maxLength: 12 }).map((c) => c.join("")),
    (meter, prefix) => {
      const a = admission({ allow: [`${prefix}*`] });
      assert.equal(a.allows(meter), meter.startsWith(prefix));
    },
  ));
});

Deno.test("whatever arrives, new meters counted never exceed burst + rate × time", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 20 }),
    fc.integer({ min: 1, max: 600 }),
    fc.array(
      fc.record({
        meter: fc.integer({ min: 0, max: 200 }),
        known: fc.boolean(),
        step: fc.integer({ min: 0, max: 500 }),
      }),
      { maxLength: 300 },
    ),
    (burst, newPerMinute, arrivals) => {
      const a = admission({ burst, newPerMinute });
      let now = T0;
      let counted = 0;
      for (const { meter, known, step } of arrivals) {
        now += step;
        const verdict = a.check(id(meter), known, now);
        if (known) assert.deepEqual(verdict, { admitted: true, counted: false });
        if (verdict.admitted && verdict.counted) counted++;
        assert.ok(counted <= burst + (newPerMinute * (now - T0)) / 60_000);
      }
    },
  ));
});
