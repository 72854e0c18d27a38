import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterAvailability } from "../../src/proxy/availability.ts";
import { MeterRegistry } from "../../src/proxy/meter_registry.ts";
import { fakeLog } from "../helpers/fake_central.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const T0 = Date.UTC(2026, 11, 3, 12);

function setUp() {
  const { meters } = parseConfig(
    "meters:\n  availability_timeout_seconds: 10\n",
    "config.yaml",
    () => undefined,
  );
  const settingsOf = (id: MeterId) => meterSettings(meters, id);
  const registry = new MeterRegistry(100, settingsOf);
  const published: Array<[string, string]> = [];
  const { log, lines } = fakeLog();
  const availability = new MeterAvailability(
    () => "kpm33b",
    registry,
    settingsOf,
    ({ topic, payload }) => {
      published.push([topic, payload]);
    },
    log,
  );
  return { availability, registry, published, lines };
}

Deno.test("a silent meter goes offline once, logged with its timeout", () => {
  const env = setUp();
  env.registry.seen(A, T0);
  env.availability.check(T0 + 9_999);
  assert.deepEqual(env.published, []);
  env.availability.check(T0 + 10_000);
  env.availability.check(T0 + 20_000);
  assert.deepEqual(env.published, [[`kpm33b/${A}/availability`, "offline"]]);
  assert.deepEqual(env.lines, [[
    "info",
    "Meter {id} is offline: no reading for {seconds} s",
    { id: A, seconds: 10 },
  ]]);
});

Deno.test("every known availability is published again", () => {
  const env = setUp();
  env.registry.seen(A, T0);
  env.registry.seen(B, T0);
  env.registry.expire(T0 + 10_000);
  env.registry.seen(B, T0 + 11_000);
  env.availability.publishAll();
  assert.deepEqual(env.published.sort(), [
    [`kpm33b/${A}/availability`, "offline"],
    [`kpm33b/${B}/availability`, "online"],
  ]);
});
