/**
 * Replays of minutes-level energy readings for fault-injection tests: a
 * generator of distinct readings whose order is checkable from the consumer
 * side, a publisher with a bounded number of QoS 1 publishes in flight, and a
 * central consumer that keeps a ledger of what arrived (lost, duplicates,
 * order per topic).
 */
import mqtt, { type MqttClient } from "mqtt";
import { METER_ID_PATTERN } from "../../src/protocol/meter_id.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import type { Account } from "./gated_mosquitto.ts";

const SAMPLE: Record<string, unknown> = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/MQTT_ENY_NOW.json", import.meta.url)),
);
/** Cumulative registers of the sample (every numeric tag of `MQTT_ENY_NOW`). */
const REGISTERS = Object.keys(SAMPLE).filter((key) => typeof SAMPLE[key] === "number");

/** One reading of a replay. */
export interface ReplayReading {
  readonly id: string;
  readonly time: string;
  /** `"<id> <time>"`, the reading's identity on both sides. */
  readonly key: string;
  /** The `active_energy` (`zygsz`) central must publish for it. */
  readonly activeEnergy: number;
  /** The raw `MQTT_ENY_NOW` payload. */
  readonly payload: string;
}

/** Readings in publishing order. */
export interface Replay {
  readonly readings: readonly ReplayReading[];
  /** key → expected `active_energy`. */
  readonly expected: ReadonlyMap<string, number>;
  readonly meters: readonly string[];
}

/** A valid meter id `33B1225` + 6 digits. */
export function meterId(n: number): string {
  return `33B1225${String(950000 + n).padStart(6, "0")}`;
}

/**
 * `meters` × `perMeter` distinct `MQTT_ENY_NOW` readings, interleaved by
 * minute: each meter's `time` one minute apart (ending before now, so no
 * clock is off by more than a few hours) and every register strictly
 * increasing, so no filter drops any of them.
 */
export function energyReplay(
  options: { meters: number; perMeter: number },
): Replay {
  const { meters, perMeter } = options;
  const clock = new MeterClock("UTC");
  const start = (Math.floor(Date.now() / 60_000) - perMeter - 1) * 60_000;
  const readings: ReplayReading[] = [];
  const ids = Array.from({ length: meters }, (_, m) => meterId(m));
  for (let i = 0; i < perMeter; i++) {
    const time = clock.meterTimeAt(start + i * 60_000);
    for (const [m, id] of ids.entries()) {
      const payload: Record<string, unknown> = { ...SAMPLE, id, time };
      REGISTERS.forEach((tag, r) => {
        // Thousandths as integers, so the value prints exactly; strictly increasing in i.
        payload[tag] = (100_000 * (r + 1) + 1000 * m + 7 * i + 1) / 1000;
      });
      readings.push({
        id,
        time,
        key: `${id} ${time}`,
        activeEnergy: payload.zygsz as number,
        payload: JSON.stringify(payload),
      });
    }
  }
  return {
    readings,
    expected: new Map(readings.map((r) => [r.key, r.activeEnergy])),
    meters: ids,
  };
}

/** A raw MQTT client publishing to the internal broker. */
export class Publisher implements AsyncDisposable {
  /** Publishes acknowledged (PUBACK) so far. */
  acked = 0;

  private constructor(readonly client: MqttClient) {}

  static async connect(url: string): Promise<Publisher> {
    const client = await mqtt.connectAsync(url, {
      clientId: `replay-${crypto.randomUUID().slice(0, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    return new Publisher(client);
  }

  /**
   * Publishes every payload with QoS 1, at most `window` unacknowledged at a
   * time, in the given order; resolves when all are acknowledged.
   */
  async publishAll(
    topic: string,
    payloads: readonly (string | Uint8Array)[],
    window = 500,
  ): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < payloads.length) {
        const payload = payloads[next++];
        await this.client.publishAsync(topic, payload as string, { qos: 1 });
        this.acked++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, payloads.length) }, lane));
  }

  /** Publishes each message to its own topic, like {@link publishAll}. */
  async publishEach(
    messages: readonly { topic: string; payload: string | Uint8Array }[],
    window = 200,
  ): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < messages.length) {
        const { topic, payload } = messages[next++]!;
        await this.client.publishAsync(topic, payload as string, { qos: 1 });
        this.acked++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, messages.length) }, lane));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** The bridge's retained outbox status. */
export interface OutboxStatus {
  readonly depth: number;
  readonly bytes: number;
  readonly dropped: number;
  /** When it arrived, epoch ms. */
  readonly at: number;
}

const MINUTES_TOPIC = new RegExp(
  `^kpm33b/(${METER_ID_PATTERN.source.slice(1, -1)})/minutes$`,
);

/**
 * What a central consumer saw of a replay: per reading how often, per topic
 * whether times ever went backwards.
 */
export class ReadingLedger {
  /** key → times received. */
  readonly counts = new Map<string, number>();
  /** topic → latest `time` received. */
  readonly #latest = new Map<string, string>();
  /** Messages on `<root>/<id>/minutes`. */
  received = 0;
  /** Receptions of a reading already received. */
  duplicates = 0;
  /** Readings older than one already received on the same topic. */
  readonly orderViolations: string[] = [];
  /** Readings whose payload is not what the bridge must publish for them. */
  readonly payloadErrors: string[] = [];
  /** Arrival time of each first reception, epoch ms, in arrival order. */
  readonly arrivals: Array<{ key: string; at: number }> = [];

  constructor(readonly expected: ReadonlyMap<string, number>) {}

  /** Records one central message; ignores other topics. */
  record(topic: string, payload: string): void {
    const match = MINUTES_TOPIC.exec(topic);
    if (match === null) return;
    this.received++;
    let parsed: { id?: unknown; time?: unknown; active_energy?: unknown };
    try {
      parsed = JSON.parse(payload);
    } catch {
      this.payloadErrors.push(`${topic}: not JSON: ${payload.slice(0, 200)}`);
      return;
    }
    const time = String(parsed.time);
    const key = `${match[1]} ${time}`;
    if (parsed.id !== match[1]) this.payloadErrors.push(`${topic}: id ${parsed.id}`);
    const expected = this.expected.get(key);
    if (expected !== undefined && parsed.active_energy !== expected) {
      this.payloadErrors.push(`${key}: active_energy ${parsed.active_energy} != ${expected}`);
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count > 1) this.duplicates++;
    else this.arrivals.push({ key, at: Date.now() });
    const latest = this.#latest.get(topic);
    if (latest !== undefined && time < latest) {
      this.orderViolations.push(`${topic}: ${time} after ${latest}`);
    } else {
      this.#latest.set(topic, time);
    }
  }

  /** Distinct readings received. */
  get unique(): number {
    return this.counts.size;
  }

  /** Keys of `readings` never received. */
  missing(readings: readonly ReplayReading[]): string[] {
    return readings.filter((r) => !this.counts.has(r.key)).map((r) => r.key);
  }
}

/**
 * A consumer on the central broker subscribed to `<root>/#` with QoS 1. It
 * can reconnect (a new session) after its broker was restarted; the ledger
 * and the observed bridge states and outbox statuses carry on.
 */
export class CentralConsumer implements AsyncDisposable {
  readonly ledger: ReadingLedger;
  /** Payloads of `<root>/bridge/state`, in arrival order, with arrival time. */
  readonly states: Array<{ state: string; at: number }> = [];
  readonly outbox: OutboxStatus[] = [];
  /** Every message: topic, payload and arrival time. */
  readonly messages: Array<{ topic: string; payload: Uint8Array; at: number }> = [];
  /** Time of the latest message from the bridge, epoch ms. */
  lastMessageAt = 0;
  #client: MqttClient | undefined;
  readonly #keepMessages: boolean;

  private constructor(
    readonly url: string,
    readonly account: Account | undefined,
    expected: ReadonlyMap<string, number>,
    readonly filter: string,
    keepMessages: boolean,
  ) {
    this.ledger = new ReadingLedger(expected);
    this.#keepMessages = keepMessages;
  }

  /** Connects and subscribes to `filter` (default `kpm33b/#`). */
  static async connect(
    url: string,
    options: {
      account?: Account;
      expected?: ReadonlyMap<string, number>;
      filter?: string;
      keepMessages?: boolean;
    } = {},
  ): Promise<CentralConsumer> {
    const consumer = new CentralConsumer(
      url,
      options.account,
      options.expected ?? new Map(),
      options.filter ?? "kpm33b/#",
      options.keepMessages ?? false,
    );
    await consumer.reconnect();
    return consumer;
  }

  /** Whether the current connection is up. */
  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** (Re)connects with a clean session and subscribes; resolves after the SUBACK. */
  async reconnect(): Promise<void> {
    await this.#client?.endAsync(true);
    const client = await mqtt.connectAsync(this.url, {
      clientId: `consumer-${crypto.randomUUID().slice(0, 8)}`,
      username: this.account?.username,
      password: this.account?.password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.on("error", () => {}); // a killed broker: the test reconnects
    client.on("message", (topic, payload) => this.#onMessage(topic, payload));
    this.#client = client;
    const granted = await client.subscribeAsync(this.filter, { qos: 1 });
    if (granted.some((g) => g.qos !== 1)) {
      throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
    }
  }

  #onMessage(topic: string, payload: Uint8Array): void {
    const at = Date.now();
    this.lastMessageAt = at;
    if (this.#keepMessages) this.messages.push({ topic, payload, at });
    if (topic.endsWith("/bridge/state")) {
      this.states.push({ state: new TextDecoder().decode(payload), at });
    } else if (topic.endsWith("/bridge/outbox")) {
      try {
        const status = JSON.parse(new TextDecoder().decode(payload));
        this.outbox.push({ ...status, at });
      } catch {
        this.outbox.push({ depth: NaN, bytes: NaN, dropped: NaN, at });
      }
    } else {
      this.ledger.record(topic, new TextDecoder().decode(payload));
    }
  }

  /** The latest bridge state seen, if any. */
  get state(): string | undefined {
    return this.states.at(-1)?.state;
  }

  /** The latest outbox status seen, if any. */
  get lastOutbox(): OutboxStatus | undefined {
    return this.outbox.at(-1);
  }

  /** Disconnects. */
  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.endAsync(true);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Waits until `done()` holds, giving up after `timeoutMs` in all or when
 * `progress()` did not change for `stallMs`; returns whether `done()` held.
 */
export async function waitForProgress(
  done: () => boolean,
  progress: () => number,
  options: { timeoutMs: number; stallMs: number },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  let last = progress();
  let changed = Date.now();
  while (!done()) {
    const now = Date.now();
    if (now > deadline) return false;
    const current = progress();
    if (current !== last) {
      last = current;
      changed = now;
    } else if (now - changed > options.stallMs) {
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
