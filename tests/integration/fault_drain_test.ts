/**
 * The drain after a central outage against a slow QoS 1 subscriber on a stock
 * Mosquitto (`max_queued_messages` 1000, `max_inflight_messages` 20: the
 * defaults, which Home Assistant's Mosquitto add-on runs with). Mosquitto
 * acknowledges every publication to the bridge at once and silently drops
 * what overflows the subscriber's queue, so the bridge cannot see the loss;
 * only the pace it publishes at prevents it.
 *
 * The subscriber stands for Home Assistant's MQTT integration on a Raspberry
 * Pi-class machine. Home Assistant handles each message on its one event-loop
 * thread — each entity's value template, a state write, a `state_changed`
 * event the recorder stores — and acknowledges a QoS 1 message once that ran.
 * The Python MQTT client alone (no processing) receives about 540 messages/s
 * on a 600 MHz Raspberry Pi 3 core (victronenergy/venus#168); with that work
 * per message and the rest of Home Assistant on the same thread, we take 100
 * messages/s as what such a machine sustains: conservative, defensible. The
 * subscriber acknowledges at most that, by a timer, not by the CPU it gets.
 *
 * Meters keep publishing during the drain: 100 meters at 2 readings a minute
 * (both levels once a minute, the default), 3.3 readings/s.
 *
 * Figures are printed; assertions are counts only.
 */
import assert from "node:assert/strict";
import {
  defaultDrainRate,
  describeDrain,
  type DrainScenario,
  runDrainScenario,
} from "../helpers/drain_scenario.ts";

/** Messages a second a Raspberry Pi-class Home Assistant acknowledges (see above). */
const HOME_ASSISTANT_PER_SECOND = 100;
/** A 10,000-reading backlog: 100 meters × 100 readings. */
const SCENARIO: DrainScenario = {
  subscriberPerSecond: HOME_ASSISTANT_PER_SECOND,
  meters: 100,
  backlogPerMeter: 100,
  livePerSecond: 100 * 2 / 60,
};
/** The default before issue 19: a second's worth (1000) could arrive at once. */
const FORMER_DEFAULT = 1000;

Deno.test("drain: at the default rate a slow QoS 1 subscriber on a stock Mosquitto loses nothing of a 10,000-reading backlog", async () => {
  const result = await runDrainScenario(SCENARIO);
  console.log(`default drain rate: ${describeDrain(SCENARIO, result)}; ${result.drainLine}`);
  assert.equal(result.drainRate, defaultDrainRate());
  assert.match(result.drainLine ?? "", /backlog of \d+ readings at \d+\/s/, "the drain is logged");
  assert.equal(
    result.witnessLost,
    0,
    `the bridge did not deliver everything\n${result.complaints}`,
  );
  assert.deepEqual(result.orderViolations.slice(0, 10), []);
  assert.ok(result.live > 0, "no live readings during the drain (the scenario tests less)");
  assert.equal(
    result.slowLostBacklog + result.slowLostLive,
    0,
    `the slow subscriber lost ${result.slowLostBacklog} backlog and ${result.slowLostLive} ` +
      `live readings (Mosquitto ${result.brokerDropped ? "logged" : "did not log"} dropping)`,
  );
  assert.ok(!result.brokerDropped, "Mosquitto dropped messages for the slow subscriber");
});

Deno.test("drain: at the former default of 1000/s the same subscriber loses readings the bridge saw acknowledged", async () => {
  const scenario = { ...SCENARIO, drainRate: FORMER_DEFAULT };
  const result = await runDrainScenario(scenario);
  console.log(`former default: ${describeDrain(scenario, result)}`);
  // Central acknowledged everything: the witness has it all, the slow subscriber does not.
  assert.equal(
    result.witnessLost,
    0,
    `the bridge did not deliver everything\n${result.complaints}`,
  );
  assert.deepEqual(result.orderViolations.slice(0, 10), []);
  assert.ok(
    result.slowLostBacklog > 0 && result.brokerDropped,
    "the subscriber kept up with 1000/s: it is not slow enough for the first test to tell",
  );
});
