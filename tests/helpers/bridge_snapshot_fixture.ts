/** Synthetic bridge snapshots and meter statuses for the HTTP endpoint's tests. */
import { judgeOutbox, type OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { MeterStatus } from "../../src/protocol/meter_status.ts";
import { ACK_LATENCY_BUCKETS, type BridgeSnapshot } from "../../src/status/bridge_snapshot.ts";

/** A valid meter status: an online, configured meter, with `overrides` applied and validated. */
export function meterStatus(overrides: Record<string, unknown> = {}): MeterStatus {
  return MeterStatus.parse({
    id: "33B1225950027",
    name: "Main board",
    model: "KPM33B",
    availability: "online",
    last_seen: "2025-03-01T12:00:00.000Z",
    readings: 42,
    rejected: 0,
    zero_filtered: 0,
    duplicates: 1,
    implausible: 0,
    last_implausible: null,
    register_resets: 0,
    last_register_reset: null,
    clock_drift_seconds: 2,
    outbox_depth: 0,
    values: { active_power: 1.234, active_energy: 5678.9 },
    relay: null,
    configuration: "configured",
    intervals: { seconds: 60, minutes: 15 },
    clock_set_at: "2025-03-01T00:00:05.000Z",
    last_ack_latency_ms: 350,
    last_error: null,
    ...overrides,
  });
}

/** A snapshot with no traffic and no meters, taken at `takenAt`; `overrides` replace fields. */
export function bridgeSnapshot(
  takenAt: Date,
  overrides: Partial<BridgeSnapshot> = {},
): BridgeSnapshot {
  return {
    version: "1.2.3",
    started_at: new Date(takenAt.getTime() - 3_600_000).toISOString(),
    taken_at: takenAt.toISOString(),
    brokers: { internal: true, central: true },
    counters: {
      received: {},
      published: {},
      announced: 0,
      rejected: {},
      dropped: {},
      incomplete: 0,
      register_resets: 0,
    },
    ack_latency: {
      buckets: ACK_LATENCY_BUCKETS,
      counts: ACK_LATENCY_BUCKETS.map(() => 0).concat(0),
      sum: 0,
      count: 0,
    },
    outbox: { depth: 0, bytes: 0, dropped: 0, durable: true, problem: null },
    meter_counts: { known: 0, online: 0 },
    meters: [],
    ...overrides,
  };
}

/** The problem of an outbox found empty at `since` although its record expected 3,000 readings. */
export function outboxProblem(since: Date): OutboxProblem {
  return judgeOutbox({
    file: "/var/lib/kpm33b/outbox.sqlite",
    record: { lastSeq: 3050, depth: 3000, writtenAt: since.getTime() - 60_000 },
    before: "empty",
    lastSeq: 0,
    entries: 0,
    now: since.getTime(),
  })!;
}
