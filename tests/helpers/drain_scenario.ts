/**
 * The drain after a central outage, end to end, as a Home Assistant user runs
 * it: central is a Mosquitto with stock queue settings, its QoS 1 subscriber
 * is slow, and the meters keep publishing while the backlog is delivered.
 *
 * Mosquitto acknowledges a publication (PUBACK) to the bridge as soon as it
 * has it, sends a subscriber at most `max_inflight_messages` (20)
 * unacknowledged messages, queues `max_queued_messages` (1000) more and
 * silently drops the rest. The bridge sees every PUBACK; only a second,
 * fast subscriber (the witness) and the slow one's ledger show what the broker
 * dropped.
 *
 * Used by tests/integration/fault_drain_test.ts (counts only) and
 * bench/drain.ts (the loss at several drain rates).
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { OutboxConfig } from "../../src/config/schema.ts";
import { type BridgeProcess, complaints, startBridge } from "./bridge.ts";
import { type Account, GatedMosquitto } from "./gated_mosquitto.ts";
import { startMosquitto } from "./mosquitto.ts";
import {
  CentralConsumer,
  energyReplay,
  Publisher,
  ReadingLedger,
  type ReplayReading,
  waitForProgress,
} from "./replay.ts";
import { waitUntil } from "./wait.ts";

/** Mosquitto's own defaults, written out: what Home Assistant's Mosquitto add-on runs with. */
export const STOCK_QUEUES = "max_queued_messages 1000\nmax_inflight_messages 20";

const SLOW: Account = { username: "slow", password: "slow-secret" };
const WITNESS: Account = { username: "witness", password: "witness-secret" };
const BRIDGE: Account = { username: "bridge", password: "bridge-secret" };
/** The meters' broker keeps every reading for the bridge (as the shipped internal.conf does). */
const INTERNAL = "max_queued_messages 1000000";
/** How far behind its schedule a slow subscriber may fall and still make up for it. */
const SUBSCRIBER_SLACK_MS = 100;

/**
 * A QoS 1 subscriber that acknowledges at most `perSecond` messages a second:
 * each message is "processed" for 1/perSecond s and acknowledged (PUBACK)
 * after it, one at a time, as Home Assistant's MQTT client acknowledges a
 * message once its callbacks ran. A timer that fires late is made up for
 * within {@link SUBSCRIBER_SLACK_MS} (a token bucket of that many
 * milliseconds' worth), so the pace holds on a busy machine and is never
 * faster than `perSecond` beyond that slack.
 */
export class SlowSubscriber implements AsyncDisposable {
  readonly ledger: ReadingLedger;
  /** Messages acknowledged, on every topic. */
  acknowledged = 0;
  /** Client id of the current connection (Mosquitto's log names it). */
  clientId = "";
  #client: MqttClient | undefined;
  /** When the message being processed is done, on the subscriber's schedule (performance.now()). */
  #due = 0;

  private constructor(
    readonly url: string,
    readonly account: Account,
    readonly perSecond: number,
    readonly filters: readonly string[],
    expected: ReadonlyMap<string, number>,
  ) {
    this.ledger = new ReadingLedger(expected);
  }

  /** Connects (clean session) and subscribes to `filters` with QoS 1. */
  static async connect(
    url: string,
    account: Account,
    options: {
      perSecond: number;
      filters: readonly string[];
      expected: ReadonlyMap<string, number>;
    },
  ): Promise<SlowSubscriber> {
    const subscriber = new SlowSubscriber(
      url,
      account,
      options.perSecond,
      options.filters,
      options.expected,
    );
    await subscriber.reconnect();
    return subscriber;
  }

  /** (Re)connects with a clean session and subscribes; resolves after the SUBACK. */
  async reconnect(): Promise<void> {
    await this.#client?.endAsync(true);
    this.clientId = `slow-${crypto.randomUUID().slice(0, 8)}`;
    const client = await mqtt.connectAsync(this.url, {
      clientId: this.clientId,
      username: this.account.username,
      password: this.account.password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.on("error", () => {}); // a stopped broker: the scenario reconnects
    client.on("message", (topic, payload) => this.ledger.record(topic, payload.toString()));
    const interval = 1000 / this.perSecond;
    // MQTT.js handles one incoming packet at a time and sends the PUBACK once this calls back.
    client.handleMessage = (_packet, callback) => {
      const now = performance.now();
      this.#due = Math.max(this.#due, now - SUBSCRIBER_SLACK_MS) + interval;
      setTimeout(() => {
        this.acknowledged++;
        callback();
      }, Math.max(0, this.#due - now));
    };
    this.#client = client;
    const granted = await client.subscribeAsync([...this.filters], { qos: 1 });
    if (granted.some((g) => g.qos !== 1)) {
      throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.endAsync(true);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One run of the scenario. */
export interface DrainScenario {
  /** `outbox.drain_rate_per_second`; the bridge's default when absent. */
  readonly drainRate?: number;
  /** Messages a second the slow subscriber acknowledges. */
  readonly subscriberPerSecond: number;
  /** Meters; each has its own `minutes` topic. */
  readonly meters: number;
  /** Readings per meter published while central is down: the backlog. */
  readonly backlogPerMeter: number;
  /** Readings a second the meters publish while the backlog drains. */
  readonly livePerSecond: number;
  /** Progress lines (what the scenario waits for); none by default. */
  readonly log?: (line: string) => void;
}

/** What a run showed. */
export interface DrainResult {
  /** The drain rate the bridge ran with. */
  readonly drainRate: number;
  readonly backlog: number;
  /** Readings the meters published after central was back, until the backlog was through. */
  readonly live: number;
  /** Backlog and live readings the witness (a fast subscriber) never received. */
  readonly witnessLost: number;
  /** Backlog readings the slow subscriber never received. */
  readonly slowLostBacklog: number;
  /** Live readings the slow subscriber never received. */
  readonly slowLostLive: number;
  readonly slowDuplicates: number;
  /** Readings older than one received before on the same topic (slow, then witness). */
  readonly orderViolations: readonly string[];
  /** Messages the slow subscriber acknowledged after central was back, on every topic. */
  readonly slowMessages: number;
  /** From the bridge's admission to central until the witness had the whole backlog. */
  readonly drainMs: number;
  /** From the bridge's admission until the slow subscriber had received its last reading. */
  readonly slowDoneMs: number;
  /**
   * Most readings the slow subscriber was behind the witness (sampled every
   * 100 ms): what its queue on the broker held of readings, which the stock
   * 1000 (plus 20 in flight) bounds; other messages (discovery, status) come
   * on top. Meaningless once the broker drops.
   */
  readonly peakLag: number;
  /** Whether Mosquitto logged that it drops messages for the slow subscriber. */
  readonly brokerDropped: boolean;
  /** The bridge's log line announcing the drain, if any. */
  readonly drainLine: string | undefined;
  /** The bridge's warnings and errors. */
  readonly complaints: string;
}

/** The bridge's default `outbox.drain_rate_per_second`. */
export function defaultDrainRate(): number {
  return OutboxConfig.parse({}).drain_rate_per_second;
}

function bridgeYaml(internal: string, central: string, drainRate: number | undefined): string {
  const outbox = drainRate === undefined ? "" : `outbox: { drain_rate_per_second: ${drainRate} }\n`;
  // A day of tolerated drift: the replayed readings are dated up to a few hours back. Any number
  // of meters is new at once: no admission limit.
  return `internal_broker: { url: "${internal}", embedded: { enabled: false } }
central_broker: { url: "${central}", embedded: { enabled: false }, username: ${BRIDGE.username}, password: ${BRIDGE.password} }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 }, admission: { new_per_minute: 0 } }
logging: { level: info, format: json, stats_interval_seconds: 1 }
${outbox}`;
}

/** Readings the bridge took from the meters' broker, from its latest stats line. */
function received(bridge: BridgeProcess): number {
  return Math.max(
    0,
    ...bridge.logLines().filter((l) => String(l.message).startsWith("Stats:")).map((l) =>
      Number((l.stats as { received?: unknown } | undefined)?.received ?? 0)
    ),
  );
}

async function expectOnline(
  witness: CentralConsumer,
  bridge: BridgeProcess,
  since: number,
  timeoutMs = 60_000,
): Promise<void> {
  const online = () =>
    witness.states.at(-1)?.state === "online" && witness.states.at(-1)!.at >= since;
  if (!await waitUntil(online, timeoutMs)) {
    throw new Error(
      `bridge/state did not become online within ${timeoutMs} ms\n${complaints(bridge)}`,
    );
  }
}

/**
 * Central (stock queues) with the slow subscriber and the witness, the real
 * bridge and a meters' broker: one reading per meter while central is up, the
 * backlog while it is stopped, then central back (the subscribers subscribe
 * before the bridge may connect) and live readings at `livePerSecond` until
 * the witness has the whole backlog. Ends once the slow subscriber has
 * everything, or received nothing for 10 s (its queue is empty: what is
 * missing was dropped).
 */
export async function runDrainScenario(scenario: DrainScenario): Promise<DrainResult> {
  const log = scenario.log ?? (() => {});
  const drainRate = scenario.drainRate ?? defaultDrainRate();
  const { meters, backlogPerMeter } = scenario;
  const backlogCount = meters * backlogPerMeter;
  // Live readings for three times the expected drain, at least a minute's worth.
  const drainSeconds = drainRate > 0 ? backlogCount / drainRate : 10;
  const liveCapacity = Math.ceil(scenario.livePerSecond * Math.max(60, 3 * drainSeconds));
  const replay = energyReplay({
    meters,
    perMeter: 1 + backlogPerMeter + Math.max(1, Math.ceil(liveCapacity / meters)),
  });
  const warmUp = replay.readings.slice(0, meters);
  const backlog = replay.readings.slice(meters, meters + backlogCount);
  const live = replay.readings.slice(meters + backlogCount);

  await using internal = await startMosquitto(INTERNAL);
  await using central = await GatedMosquitto.start([SLOW, WITNESS, BRIDGE], STOCK_QUEUES);
  await using witness = await CentralConsumer.connect(central.url, {
    account: WITNESS,
    expected: replay.expected,
  });
  // Home Assistant subscribes to the discovery prefix and to the state topics of its entities.
  await using slow = await SlowSubscriber.connect(central.url, SLOW, {
    perSecond: scenario.subscriberPerSecond,
    filters: ["kpm33b/#", "homeassistant/#"],
    expected: replay.expected,
  });
  await using bridge = await startBridge(bridgeYaml(internal.url, central.url, scenario.drainRate));
  await expectOnline(witness, bridge, 0);
  await using publisher = await Publisher.connect(internal.url);

  // Every meter announced (and its discovery published) while central is up.
  await publisher.publishAll("MQTT_ENY_NOW", warmUp.map((r) => r.payload));
  const has = (ledger: ReadingLedger, readings: readonly ReplayReading[]) =>
    readings.every((r) => ledger.counts.has(r.key));
  if (!await waitUntil(() => has(slow.ledger, warmUp), 60_000)) {
    throw new Error(`warm-up readings did not reach the slow subscriber\n${complaints(bridge)}`);
  }
  log(`warm-up: ${meters} readings through`);

  await central.kill("SIGTERM");
  await publisher.publishAll("MQTT_ENY_NOW", backlog.map((r) => r.payload));
  const taken = meters + backlogCount;
  if (!await waitUntil(() => received(bridge) >= taken, 120_000)) {
    throw new Error(
      `the bridge took ${received(bridge)} of ${taken} readings\n${complaints(bridge)}`,
    );
  }
  log(`outage: the bridge holds the backlog of ${backlogCount} readings`);

  // The subscribers first: nothing the bridge delivers can pass them by.
  await central.restart([SLOW, WITNESS]);
  await witness.reconnect();
  await slow.reconnect();
  const ackedBefore = slow.acknowledged;
  const admittedAt = await central.admit([SLOW, WITNESS, BRIDGE]);

  let peakLag = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakLag = Math.max(peakLag, witness.ledger.received - slow.ledger.received);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  // Meters keep publishing while the backlog drains.
  let livePublished = 0;
  let draining = true;
  const liveLoop = (async () => {
    const began = performance.now();
    while (draining && livePublished < live.length) {
      const due = Math.floor((performance.now() - began) * scenario.livePerSecond / 1000) + 1;
      while (livePublished < Math.min(due, live.length)) {
        await publisher.client.publishAsync("MQTT_ENY_NOW", live[livePublished]!.payload, {
          qos: 1,
        });
        livePublished++;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  let drainMs: number;
  let published: ReplayReading[];
  let all: ReplayReading[];
  let lastArrival: number;
  try {
    await expectOnline(witness, bridge, admittedAt);
    log("central back, the bridge admitted");
    const progress = () => witness.ledger.received;
    const drained = await waitForProgress(() => has(witness.ledger, backlog), progress, {
      timeoutMs: Math.max(120_000, drainSeconds * 3000),
      stallMs: 30_000,
    });
    if (!drained) {
      throw new Error(
        `the witness did not receive the backlog: ${witness.ledger.unique} readings\n${
          complaints(bridge)
        }`,
      );
    }
    draining = false;
    await liveLoop;
    drainMs = Date.now() - admittedAt;
    log(`backlog through to the witness after ${(drainMs / 1000).toFixed(1)} s`);
    published = live.slice(0, livePublished);
    all = [...backlog, ...published];
    await waitForProgress(() => has(witness.ledger, published), () => witness.ledger.received, {
      timeoutMs: 60_000,
      stallMs: 15_000,
    });
    // The slow subscriber works through its queue; once nothing arrives for 10 s it is empty.
    await waitForProgress(() => has(slow.ledger, all), () => slow.ledger.received, {
      timeoutMs: Math.max(120_000, (all.length / scenario.subscriberPerSecond) * 2000),
      stallMs: 10_000,
    });
    lastArrival = slow.ledger.arrivals.at(-1)?.at ?? admittedAt;
  } finally {
    draining = false;
    sampling = false;
    await Promise.all([liveLoop, sampler]);
  }

  const missing = (ledger: ReadingLedger, readings: readonly ReplayReading[]) =>
    readings.filter((r) => !ledger.counts.has(r.key)).length;
  const result: DrainResult = {
    drainRate,
    backlog: backlogCount,
    live: livePublished,
    witnessLost: missing(witness.ledger, all),
    slowLostBacklog: missing(slow.ledger, backlog),
    slowLostLive: missing(slow.ledger, published),
    slowDuplicates: slow.ledger.duplicates,
    orderViolations: [...slow.ledger.orderViolations, ...witness.ledger.orderViolations],
    slowMessages: slow.acknowledged - ackedBefore,
    drainMs,
    slowDoneMs: lastArrival - admittedAt,
    peakLag,
    brokerDropped: central.log().includes(`being dropped for client ${slow.clientId}`),
    drainLine: bridge.logLines().map((l) => String(l.message)).find((m) =>
      m.startsWith("Delivering the outbox backlog")
    ),
    complaints: complaints(bridge),
  };
  const { code } = await bridge.stop("SIGTERM");
  if (code !== 0) throw new Error(`bridge exit code ${code}\n${result.complaints}`);
  return result;
}

/** One line with a run's figures. */
export function describeDrain(scenario: DrainScenario, result: DrainResult): string {
  const lost = result.slowLostBacklog + result.slowLostLive;
  return `drain ${result.drainRate}/s, subscriber ${scenario.subscriberPerSecond}/s, ` +
    `${scenario.livePerSecond.toFixed(1)} live readings/s: backlog ${result.backlog} + ` +
    `${result.live} live; slow subscriber lost ${lost} (${result.slowLostBacklog} of the backlog, ` +
    `${result.slowLostLive} live), ${result.slowDuplicates} duplicates, ` +
    `${result.slowMessages} messages in all${
      result.brokerDropped ? ", Mosquitto logged dropping for it" : ""
    }; witness lost ${result.witnessLost}; ${
      result.orderViolations.length === 0 ? "order kept" : "ORDER BROKEN"
    }; backlog through in ${(result.drainMs / 1000).toFixed(1)} s, slow subscriber done after ` +
    `${
      (result.slowDoneMs / 1000).toFixed(1)
    } s, at most ${result.peakLag} readings behind the witness`;
}
