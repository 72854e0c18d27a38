import assert from "node:assert/strict";
import {
  type AppliedSettings,
  clockSetRecently,
  clockSyncAllowed,
  ConfigSenderState,
  configurationDue,
  consecutiveFailures,
  emptyState,
  FAILURE_BACKOFF_MS,
  failureBackoffMs,
  MAX_FAILURE_BACKOFF_MS,
  type MeterConfigState,
  RECENT_CLOCK_SET_MS,
} from "../../src/config_sender/meter_state.ts";

const SETTINGS: AppliedSettings = { upload_interval_seconds: 60, upload_interval_minutes: 15 };

/** 2026-01-12 10:00 UTC; the local day is "20260112". */
const NOW = Date.parse("2026-01-12T10:00:00.000Z");
const TODAY = "20260112";
const YESTERDAY = "20260111";
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

function configured(
  day: string,
  at: number,
  settings: AppliedSettings = SETTINGS,
): MeterConfigState["configured"] {
  return { day, settings, at: iso(at) };
}

function failure(at: number): MeterConfigState["last_failure"] {
  return {
    command: "seconds interval 60 s",
    oprid: "0".repeat(31) + "1",
    reason: "no acknowledgement after 3 attempts",
    at: iso(at),
  };
}

Deno.test("the failure backoff is one hour", () => {
  assert.equal(FAILURE_BACKOFF_MS, HOUR);
});

Deno.test("a meter without state, or with empty state, was never configured", () => {
  assert.equal(configurationDue(undefined, SETTINGS, TODAY, NOW), "never configured");
  assert.equal(configurationDue({}, SETTINGS, TODAY, NOW), "never configured");
  assert.equal(
    configurationDue({ clock_set_at: iso(NOW - HOUR) }, SETTINGS, TODAY, NOW),
    "never configured",
  );
});

Deno.test("a meter configured today with the same settings needs nothing", () => {
  const state: MeterConfigState = { configured: configured(TODAY, NOW - 2 * HOUR) };
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), undefined);
  assert.equal(configurationDue(state, { ...SETTINGS }, TODAY, NOW), undefined);
});

Deno.test("a meter configured yesterday with the same settings is not configured today", () => {
  const state: MeterConfigState = { configured: configured(YESTERDAY, NOW - 20 * HOUR) };
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), "not configured today");
});

Deno.test("a changed seconds interval is due even on the day the meter was configured", () => {
  const state: MeterConfigState = { configured: configured(TODAY, NOW - 60_000) };
  assert.equal(
    configurationDue(state, { ...SETTINGS, upload_interval_seconds: 30 }, TODAY, NOW),
    "settings changed",
  );
});

Deno.test("a changed minutes interval is due even on the day the meter was configured", () => {
  const state: MeterConfigState = { configured: configured(TODAY, NOW - 60_000) };
  assert.equal(
    configurationDue(state, { ...SETTINGS, upload_interval_minutes: 1 }, TODAY, NOW),
    "settings changed",
  );
});

Deno.test("a changed setting is reported as a change rather than a new day", () => {
  const state: MeterConfigState = { configured: configured(YESTERDAY, NOW - 20 * HOUR) };
  assert.equal(
    configurationDue(state, { ...SETTINGS, upload_interval_minutes: 5 }, TODAY, NOW),
    "settings changed",
  );
});

Deno.test("a recent failure blocks the automatic retry of a never-configured meter", () => {
  const state: MeterConfigState = { last_failure: failure(NOW - 10 * 60_000) };
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), undefined);
});

Deno.test("a recent failure blocks the daily reconfiguration", () => {
  const state: MeterConfigState = {
    configured: configured(YESTERDAY, NOW - 20 * HOUR),
    last_failure: failure(NOW - 60_000),
  };
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), undefined);
});

Deno.test("a recent failure does not block a settings change", () => {
  const state: MeterConfigState = {
    configured: configured(TODAY, NOW - 2 * HOUR),
    last_failure: failure(NOW - 60_000),
  };
  assert.equal(
    configurationDue(state, { ...SETTINGS, upload_interval_seconds: 300 }, TODAY, NOW),
    "settings changed",
  );
});

Deno.test("a failure older than the backoff allows the automatic retry", () => {
  const never: MeterConfigState = { last_failure: failure(NOW - FAILURE_BACKOFF_MS - 1) };
  assert.equal(configurationDue(never, SETTINGS, TODAY, NOW), "never configured");
  const stale: MeterConfigState = {
    configured: configured(YESTERDAY, NOW - 20 * HOUR),
    last_failure: failure(NOW - 2 * HOUR),
  };
  assert.equal(configurationDue(stale, SETTINGS, TODAY, NOW), "not configured today");
});

Deno.test("a failure exactly the backoff ago no longer blocks; 1 ms less still does", () => {
  const at = (failedAt: number): MeterConfigState => ({ last_failure: failure(failedAt) });
  assert.equal(
    configurationDue(at(NOW - FAILURE_BACKOFF_MS), SETTINGS, TODAY, NOW),
    "never configured",
  );
  assert.equal(configurationDue(at(NOW - FAILURE_BACKOFF_MS + 1), SETTINGS, TODAY, NOW), undefined);
});

Deno.test("a failure before the last successful configuration does not block", () => {
  const state: MeterConfigState = {
    configured: configured(YESTERDAY, NOW - 10 * 60_000),
    last_failure: failure(NOW - 20 * 60_000),
  };
  // Configured "yesterday" per the meter's local day, just after the failure.
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), "not configured today");
});

Deno.test("a failure after the last successful configuration blocks the daily reconfiguration", () => {
  const state: MeterConfigState = {
    configured: configured(YESTERDAY, NOW - 20 * 60_000),
    last_failure: failure(NOW - 10 * 60_000),
  };
  assert.equal(configurationDue(state, SETTINGS, TODAY, NOW), undefined);
});

Deno.test("a clock may be set when it was never set", () => {
  assert.equal(clockSyncAllowed(undefined, NOW, HOUR), true);
  assert.equal(clockSyncAllowed({}, NOW, HOUR), true);
});

Deno.test("a clock may be set again exactly minIntervalMs after the last set, not 1 ms sooner", () => {
  const minIntervalMs = 6 * HOUR;
  const state: MeterConfigState = { clock_set_at: iso(NOW - minIntervalMs) };
  assert.equal(clockSyncAllowed(state, NOW, minIntervalMs), true);
  assert.equal(clockSyncAllowed(state, NOW - 1, minIntervalMs), false);
  assert.equal(clockSyncAllowed(state, NOW + 1, minIntervalMs), true);
  assert.equal(clockSyncAllowed(state, NOW - minIntervalMs, minIntervalMs), false);
});

Deno.test("ConfigSenderState accepts a complete state", () => {
  const state = {
    version: 1,
    meters: {
      "33B1225950027": {
        configured: { day: TODAY, settings: SETTINGS, at: iso(NOW) },
        clock_set_at: iso(NOW),
        last_failure: failure(NOW - HOUR),
      },
      "33B1225950028": {},
    },
  };
  assert.deepEqual(ConfigSenderState.parse(state), state);
  assert.deepEqual(ConfigSenderState.parse(emptyState()), { version: 1, meters: {} });
});

Deno.test("ConfigSenderState rejects a meter id key that is not 13 characters", () => {
  for (const key of ["33B122595002", "33B12259500270", "33b1225950027", ""]) {
    const result = ConfigSenderState.safeParse({ version: 1, meters: { [key]: {} } });
    assert.equal(result.success, false, key);
  }
});

Deno.test("ConfigSenderState rejects a configured day that is not yyyyMMdd", () => {
  for (const day of ["2026-01-12", "2026011", "202601120", "2026011a", ""]) {
    const result = ConfigSenderState.safeParse({
      version: 1,
      meters: { "33B1225950027": { configured: { day, settings: SETTINGS, at: iso(NOW) } } },
    });
    assert.equal(result.success, false, day);
  }
});

Deno.test("ConfigSenderState rejects another version and non-ISO timestamps", () => {
  assert.equal(ConfigSenderState.safeParse({ version: 2, meters: {} }).success, false);
  assert.equal(ConfigSenderState.safeParse({ meters: {} }).success, false);
  assert.equal(
    ConfigSenderState.safeParse({
      version: 1,
      meters: { "33B1225950027": { clock_set_at: "yesterday" } },
    }).success,
    false,
  );
});

Deno.test("emptyState returns a fresh object each time", () => {
  const first = emptyState();
  first.meters["33B1225950027" as keyof typeof first.meters] = {};
  assert.deepEqual(emptyState(), { version: 1, meters: {} });
});

Deno.test("clockSetRecently: a clock set less than RECENT_CLOCK_SET_MS ago is recent, not at the limit", () => {
  const now = Date.parse("2026-03-29T12:00:00Z");
  const at = (ms: number): MeterConfigState => ({ clock_set_at: new Date(now - ms).toISOString() });
  assert.equal(clockSetRecently(undefined, now), false);
  assert.equal(clockSetRecently({}, now), false);
  assert.equal(clockSetRecently(at(0), now), true);
  assert.equal(clockSetRecently(at(RECENT_CLOCK_SET_MS - 1), now), true);
  assert.equal(clockSetRecently(at(RECENT_CLOCK_SET_MS), now), false);
});

Deno.test("failureBackoffMs doubles per failed configuration in a row, up to a day", () => {
  assert.deepEqual([1, 2, 3, 5, 6, 20].map(failureBackoffMs), [
    FAILURE_BACKOFF_MS,
    2 * FAILURE_BACKOFF_MS,
    4 * FAILURE_BACKOFF_MS,
    16 * FAILURE_BACKOFF_MS,
    MAX_FAILURE_BACKOFF_MS,
    MAX_FAILURE_BACKOFF_MS,
  ]);
});

Deno.test("configurationDue waits longer after repeated failures; other settings go out at once", () => {
  const now = Date.parse("2026-03-29T12:00:00Z");
  const settings = { upload_interval_seconds: 60, upload_interval_minutes: 1 };
  const failed = (hoursAgo: number, consecutive: number): MeterConfigState => ({
    last_failure: {
      command: "seconds interval 60 s",
      oprid: "0".repeat(32),
      reason: "no acknowledgement after 3 attempts",
      at: new Date(now - hoursAgo * 3_600_000).toISOString(),
      settings,
      consecutive,
    },
  });
  assert.equal(consecutiveFailures(failed(0, 3)), 3);
  assert.equal(configurationDue(failed(1.5, 1), settings, "20260329", now), "never configured");
  assert.equal(configurationDue(failed(1.5, 2), settings, "20260329", now), undefined);
  assert.equal(configurationDue(failed(3.9, 3), settings, "20260329", now), undefined);
  assert.equal(configurationDue(failed(4, 3), settings, "20260329", now), "never configured");
  assert.equal(
    configurationDue(
      failed(0.1, 5),
      { ...settings, upload_interval_seconds: 300 },
      "20260329",
      now,
    ),
    "settings changed",
  );
});
