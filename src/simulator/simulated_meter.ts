/**
 * A simulated KPM33B meter on a real broker: publishes readings at its
 * current upload intervals with realistic values and answers commands like a
 * real meter, including its quirks (ignores a wrong-length `oprid`, replies
 * "02" to invalid values, a clock that can be years off, lost acks, every
 * reading sent twice, all-zero bursts). One connection per meter, client id
 * `meter-<id>`, subscribed again before it publishes after every reconnect
 * ({@link MeterConnection}); for thousands see {@link SimulatedFleet}.
 *
 * @module
 */
import type { MqttClient } from "mqtt";
import type { MeterId } from "../protocol/meter_id.ts";
import { MeterConnection, type SimulatorLog } from "./meter_connection.ts";
import { MeterModel, type MeterModelOptions } from "./meter_model.ts";

/** How a simulated meter behaves. */
export interface SimulatedMeterOptions extends MeterModelOptions {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Whether readings are published on a timer (tests may publish by hand). */
  readonly autoPublish?: boolean;
  /** Send each reading twice, as real KPM33B meters do. */
  readonly duplicates?: boolean;
  /** Precede each reading with an all-zero copy, as seen in real traffic. */
  readonly zeroBursts?: boolean;
  /** Leave this many command acknowledgements unsent (the command is still applied). */
  readonly dropAcks?: number;
  /** Where connection changes are logged (default the console). */
  readonly log?: SimulatorLog;
}

/** A command the meter received. */
export interface ReceivedCommand {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
  readonly answered: boolean;
}

/** A reading with every number replaced by 0, as in real all-zero bursts. */
export function zeroCopy(payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(payload).map(([k, v]) => [k, typeof v === "number" ? 0 : v]),
  );
}

/** One simulated meter. */
export class SimulatedMeter {
  readonly commands: ReceivedCommand[] = [];
  #dropAcks: number;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #stopping = false;

  private constructor(
    readonly connection: MeterConnection,
    readonly model: MeterModel,
    readonly options: SimulatedMeterOptions,
  ) {
    this.#dropAcks = options.dropAcks ?? 0;
    connection.client.on("message", (topic, payload) => {
      this.#onCommand(topic, payload).catch((error) => this.#publishFailed(error));
    });
  }

  /** Connects, subscribes to the meter's command topics and starts publishing. */
  static async start(options: SimulatedMeterOptions): Promise<SimulatedMeter> {
    const model = new MeterModel(options);
    const connection = await MeterConnection.open({
      url: options.url,
      username: options.username,
      password: options.password,
      clientId: `meter-${options.id}`,
      topics: model.commandTopics(),
      label: `meter ${options.id}`,
      log: options.log,
    });
    const meter = new SimulatedMeter(connection, model, options);
    if (options.autoPublish ?? true) meter.#schedule();
    return meter;
  }

  /** The meter's MQTT client. */
  get client(): MqttClient {
    return this.connection.client;
  }

  /** The meter's id. */
  get id(): MeterId {
    return this.options.id;
  }

  /** Current upload intervals. */
  get secondsInterval(): number {
    return this.model.secondsInterval;
  }

  get minutesInterval(): number {
    return this.model.minutesInterval;
  }

  /** Digital input and output bit masks (bit 0 = DI1 / DO1). */
  get inputs(): number {
    return this.model.inputs;
  }

  set inputs(mask: number) {
    this.model.inputs = mask;
  }

  get outputs(): number {
    return this.model.outputs;
  }

  set outputs(mask: number) {
    this.model.outputs = mask;
  }

  /** The meter clock now, `yyyyMMddHHmmss`. */
  meterTime(): string {
    return this.model.meterTime();
  }

  /** Meter clock minus real time, in ms. */
  get clockOffsetMs(): number {
    return this.model.clockOffsetMs;
  }

  #schedule(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    const scale = this.options.timeScale ?? 1;
    this.#timers.push(
      setInterval(
        () => this.publishInstant().catch((error) => this.#publishFailed(error)),
        (this.model.secondsInterval * 1000) / scale,
      ),
      setInterval(
        () => this.publishEnergy().catch((error) => this.#publishFailed(error)),
        (this.model.minutesInterval * 60_000) / scale,
      ),
    );
  }

  /** A real meter keeps running when its broker is away; so does the simulation. */
  #publishFailed(error: Error): void {
    if (this.#stopping) return;
    console.warn(`meter ${this.options.id}: publish failed (${error.message})`);
  }

  async #publish(topic: string, values: Record<string, unknown>): Promise<void> {
    const payload = this.model.payload(values);
    if (this.options.zeroBursts) {
      await this.connection.publish(topic, JSON.stringify(zeroCopy(payload)));
    }
    await this.connection.publish(topic, JSON.stringify(payload));
    if (this.options.duplicates) await this.connection.publish(topic, JSON.stringify(payload));
  }

  /** Publishes an `MQTT_RT_DATA` reading now. */
  publishInstant(): Promise<void> {
    return this.#publish("MQTT_RT_DATA", this.model.instant());
  }

  /** Publishes an `MQTT_ENY_NOW` reading now. */
  publishEnergy(): Promise<void> {
    return this.#publish("MQTT_ENY_NOW", this.model.energy());
  }

  /** Publishes `MQTT_TELEIND` with the current inputs and outputs. */
  async publishIo(): Promise<void> {
    await this.connection.publish("MQTT_TELEIND", JSON.stringify(this.model.io()));
  }

  async #onCommand(topic: string, raw: Uint8Array): Promise<void> {
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      return; // a real meter ignores what it cannot parse
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return;
    const outcome = this.model.command(topic, payload);
    if (outcome.intervalsChanged && (this.options.autoPublish ?? true)) this.#schedule();
    let answered = false;
    if (outcome.reply !== undefined) {
      if (this.#dropAcks > 0) {
        this.#dropAcks--;
      } else {
        await this.connection.publish(outcome.reply.topic, JSON.stringify(outcome.reply.payload));
        answered = true;
      }
    }
    // Like a real meter, it reports the changed output state.
    if (outcome.outputsChanged) await this.publishIo();
    this.commands.push({ topic, payload, answered });
  }

  /** Stops publishing and disconnects. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await this.connection.close();
  }
}
