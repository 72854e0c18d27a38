import assert from "node:assert/strict";
import { METRICS_CONTENT_TYPE, renderMetrics } from "../../src/http/metrics.ts";
import { bridgeSnapshot, meterStatus, outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";

const NOW = Date.parse("2025-03-01T12:00:10.000Z");
const IDENTITY = { version: "9.9.9", started_at: "2025-03-01T11:59:00.000Z" };

/** The sample lines of a rendering, without `# HELP` / `# TYPE`. */
const samples = (text: string) => text.split("\n").filter((line) => line && !line.startsWith("#"));

Deno.test("before the first snapshot only build, uptime and worker metrics are rendered", () => {
  const text = renderMetrics(undefined, { proxy: "running", http: "restarting" }, NOW, IDENTITY);
  assert.equal(
    text,
    [
      "# HELP kpm33b_build_info Version of the running bridge; always 1.",
      "# TYPE kpm33b_build_info gauge",
      'kpm33b_build_info{version="9.9.9"} 1',
      "# HELP kpm33b_uptime_seconds Seconds since the bridge started.",
      "# TYPE kpm33b_uptime_seconds gauge",
      "kpm33b_uptime_seconds 70",
      "# HELP kpm33b_worker_up 1 when the worker is running, 0 while it starts, restarts or is stopped.",
      "# TYPE kpm33b_worker_up gauge",
      'kpm33b_worker_up{worker="http"} 0',
      'kpm33b_worker_up{worker="proxy"} 1',
      "",
    ].join("\n"),
  );
  assert.equal(METRICS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("a snapshot renders every metric, exactly", () => {
  const snapshot = bridgeSnapshot(new Date(NOW - 2500), {
    brokers: { internal: true, central: false },
    counters: {
      received: { MQTT_RT_DATA: 7, MQTT_ENY_NOW: 3 },
      published: { seconds: 6, minutes: 2 },
      announced: 1,
      rejected: { invalid_json: 2 },
      dropped: { duplicate: 1 },
      incomplete: 4,
      register_resets: 1,
    },
    outbox: { depth: 5, bytes: 1200, dropped: 3, durable: true, problem: null },
    meter_counts: { known: 7, online: 4 },
    meters: [
      meterStatus({ id: "33B1225950028", availability: "offline", last_seen: null, readings: 0 }),
      meterStatus(),
    ],
  });
  assert.deepEqual(samples(renderMetrics(snapshot, { proxy: "running" }, NOW, IDENTITY)), [
    'kpm33b_build_info{version="1.2.3"} 1',
    "kpm33b_uptime_seconds 3602.5",
    'kpm33b_worker_up{worker="proxy"} 1',
    "kpm33b_snapshot_age_seconds 2.5",
    'kpm33b_broker_connected{broker="internal"} 1',
    'kpm33b_broker_connected{broker="central"} 0',
    'kpm33b_readings_received_total{topic="MQTT_ENY_NOW"} 3',
    'kpm33b_readings_received_total{topic="MQTT_RT_DATA"} 7',
    'kpm33b_readings_published_total{level="minutes"} 2',
    'kpm33b_readings_published_total{level="seconds"} 6',
    "kpm33b_meters_announced_total 1",
    'kpm33b_messages_rejected_total{reason="invalid_json"} 2',
    'kpm33b_readings_dropped_total{reason="duplicate"} 1',
    "kpm33b_readings_incomplete_total 4",
    "kpm33b_register_resets_total 1",
    ...[0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, "+Inf"].map((le) =>
      `kpm33b_command_ack_latency_seconds_bucket{le="${le}"} 0`
    ),
    "kpm33b_command_ack_latency_seconds_sum 0",
    "kpm33b_command_ack_latency_seconds_count 0",
    "kpm33b_outbox_depth 5",
    "kpm33b_outbox_bytes 1200",
    "kpm33b_outbox_dropped_total 3",
    "kpm33b_outbox_problem 0",
    "kpm33b_meters 7",
    "kpm33b_meters_online 4",
    'kpm33b_meter_online{meter="33B1225950027"} 1',
    'kpm33b_meter_online{meter="33B1225950028"} 0',
    'kpm33b_meter_last_seen_timestamp_seconds{meter="33B1225950027"} 1740830400',
    'kpm33b_meter_readings_total{meter="33B1225950027"} 42',
    'kpm33b_meter_readings_total{meter="33B1225950028"} 0',
  ]);
});

Deno.test("every family is declared once, HELP then TYPE, and every sample belongs to one", () => {
  const text = renderMetrics(bridgeSnapshot(new Date(NOW)), {}, NOW, IDENTITY);
  const lines = text.split("\n");
  const declared = lines.filter((line) => line.startsWith("# TYPE ")).map((line) =>
    line.split(" ")[2]
  );
  assert.equal(new Set(declared).size, declared.length);
  lines.forEach((line, i) => {
    if (line.startsWith("# TYPE ")) {
      assert.ok(lines[i - 1]?.startsWith(`# HELP ${line.split(" ")[2]} `), line);
    }
  });
  for (const line of samples(text)) {
    const name = line.match(/^[a-z_0-9]+/)![0];
    assert.ok(
      declared.some((family) => name === family || name.startsWith(`${family}_`)),
      `${line} has no family`,
    );
  }
  // Families without samples (no traffic yet) are still declared, so dashboards find them.
  assert.ok(declared.includes("kpm33b_messages_rejected_total"));
  assert.ok(text.endsWith("\n"));
});

Deno.test("label values escape backslash, double quote and line feed", () => {
  const snapshot = bridgeSnapshot(new Date(NOW), {
    counters: {
      received: {},
      published: {},
      announced: 0,
      rejected: { 'a\\b"c\nd': 1 },
      dropped: {},
      incomplete: 0,
      register_resets: 0,
    },
  });
  const text = renderMetrics(snapshot, { 'w"1': "running" }, NOW, IDENTITY);
  assert.ok(text.includes('kpm33b_messages_rejected_total{reason="a\\\\b\\"c\\nd"} 1\n'), text);
  assert.ok(text.includes('kpm33b_worker_up{worker="w\\"1"} 1\n'));
});

Deno.test("ack latency buckets are rendered cumulatively, +Inf including the overflow", () => {
  const snapshot = bridgeSnapshot(new Date(NOW), {
    ack_latency: {
      buckets: [0.5, 1, 5],
      counts: [2, 0, 3, 1],
      sum: 9.75,
      count: 6,
    },
  });
  const histogram = samples(renderMetrics(snapshot, {}, NOW, IDENTITY)).filter((line) =>
    line.startsWith("kpm33b_command_ack_latency_seconds")
  );
  assert.deepEqual(histogram, [
    'kpm33b_command_ack_latency_seconds_bucket{le="0.5"} 2',
    'kpm33b_command_ack_latency_seconds_bucket{le="1"} 2',
    'kpm33b_command_ack_latency_seconds_bucket{le="5"} 5',
    'kpm33b_command_ack_latency_seconds_bucket{le="+Inf"} 6',
    "kpm33b_command_ack_latency_seconds_sum 9.75",
    "kpm33b_command_ack_latency_seconds_count 6",
  ]);
  assert.ok(
    renderMetrics(snapshot, {}, NOW, IDENTITY).includes(
      "# TYPE kpm33b_command_ack_latency_seconds histogram\n",
    ),
  );
});

Deno.test("an outbox problem awaiting acknowledgement is 1 in kpm33b_outbox_problem", () => {
  const snapshot = bridgeSnapshot(new Date(NOW), {
    outbox: {
      depth: 0,
      bytes: 0,
      dropped: 0,
      durable: true,
      problem: outboxProblem(new Date(NOW)),
    },
  });
  assert.ok(
    samples(renderMetrics(snapshot, { proxy: "running" }, NOW, IDENTITY))
      .includes("kpm33b_outbox_problem 1"),
  );
});
