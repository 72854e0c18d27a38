/**
 * Drain benchmark: what a slow QoS 1 subscriber on a stock Mosquitto
 * (`max_queued_messages` 1000, `max_inflight_messages` 20) receives of a
 * backlog delivered after a central outage, at several drain rates.
 *
 *   deno task bench:drain, or:
 *   deno run --unstable-worker-options --allow-read --allow-write --allow-net --allow-env \
 *     --allow-run bench/drain.ts [--rates 1000,200,100,50] [--subscriber 100] [--meters 100] \
 *     [--backlog-per-meter 100] [--live 3.33]
 *
 * Each rate is one run of tests/helpers/drain_scenario.ts: the real bridge
 * between two real Mosquittos, the backlog published while central is down,
 * then central back with a subscriber that acknowledges `--subscriber`
 * messages a second and a fast witness, while meters publish `--live`
 * readings a second. The table gives, per drain rate, what the slow
 * subscriber lost and how long the backlog took; the last lines what a day's
 * outage of 100 meters at 2 readings a minute takes at each rate.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  describeDrain,
  type DrainScenario,
  runDrainScenario,
} from "../tests/helpers/drain_scenario.ts";
import { printTable } from "./support.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rates: { type: "string", default: "1000,200,100,50" },
    subscriber: { type: "string", default: "100" },
    meters: { type: "string", default: "100" },
    "backlog-per-meter": { type: "string", default: "100" },
    live: { type: "string", default: String(100 * 2 / 60) },
  },
});

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const rates = values.rates.split(",").map((r) => positive(r, "rates"));
const base = {
  subscriberPerSecond: positive(values.subscriber, "subscriber"),
  meters: positive(values.meters, "meters"),
  backlogPerMeter: positive(values["backlog-per-meter"], "backlog-per-meter"),
  livePerSecond: positive(values.live, "live"),
};
console.log(
  `backlog ${base.meters * base.backlogPerMeter} readings (${base.meters} meters), ` +
    `subscriber ${base.subscriberPerSecond} messages/s, ${base.livePerSecond.toFixed(2)} ` +
    `live readings/s during the drain; stock Mosquitto queues`,
);

const rows = [[
  "drain/s",
  "lost",
  "of backlog",
  "of live",
  "live",
  "backlog through",
  "subscriber done",
  "most behind",
  "Mosquitto dropped",
]];
for (const drainRate of rates) {
  const scenario: DrainScenario = { ...base, drainRate };
  const result = await runDrainScenario(scenario);
  console.log(describeDrain(scenario, result));
  const total = result.backlog + result.live;
  const lost = result.slowLostBacklog + result.slowLostLive;
  rows.push([
    String(drainRate),
    `${lost} (${(100 * lost / total).toFixed(1)} %)`,
    String(result.slowLostBacklog),
    String(result.slowLostLive),
    String(result.live),
    `${(result.drainMs / 1000).toFixed(1)} s`,
    `${(result.slowDoneMs / 1000).toFixed(1)} s`,
    String(result.peakLag),
    result.brokerDropped ? "yes" : "no",
  ]);
}
console.log("");
printTable(rows);

const day = 100 * 2 * 60 * 24;
console.log(
  `\nA day's outage of 100 meters at 2 readings a minute is ${day} readings: ` +
    rates.map((r) => `${(day / r / 60).toFixed(0)} min at ${r}/s`).join(", "),
);
