/**
 * A simulated KPM33B meter on a real broker: publishes readings at its
 * current upload intervals with realistic values and answers commands like a
 * real meter, including its quirks (ignores a wrong-length `oprid`, replies
 * "02" to invalid values, a clock that can be years off, lost acks, every
 * reading sent twice, all-zero bursts).
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { commandSuffix, type MeterId } from "../protocol/meter_id.ts";
import { MeterClock, parseMeterTime } from "../protocol/meter_time.ts";
import { MINUTES_LEVEL_INTERVALS, SECONDS_LEVEL_INTERVALS } from "../protocol/upload_interval.ts";

/** How a simulated meter behaves. */
export interface SimulatedMeterOptions {
  readonly url: string;
  readonly id: MeterId;
  readonly username?: string;
  readonly password?: string;
  /** Zone the meter clock shows (as set by the bridge). */
  readonly timeZone: string;
  /** Meter clock minus real time at start, in ms (e.g. years, like a factory-fresh meter). */
  readonly clockOffsetMs?: number;
  /** Factory upload intervals. */
  readonly secondsInterval?: number;
  readonly minutesInterval?: number;
  /** Speeds up the upload intervals (readings only; the clock runs in real time). */
  readonly timeScale?: number;
  /** Whether readings are published on a timer (tests may publish by hand). */
  readonly autoPublish?: boolean;
  /** Send each reading twice, as real KPM33B meters do. */
  readonly duplicates?: boolean;
  /** Precede each reading with an all-zero copy, as seen in real traffic. */
  readonly zeroBursts?: boolean;
  /** Leave this many command acknowledgements unsent (the command is still applied). */
  readonly dropAcks?: number;
  /** Average total active power in kW. */
  readonly powerKw?: number;
  /** Import energy register at start, kWh. */
  readonly energyKwh?: number;
}

/** A command the meter received. */
export interface ReceivedCommand {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
  readonly answered: boolean;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** One simulated meter. */
export class SimulatedMeter {
  readonly commands: ReceivedCommand[] = [];
  secondsInterval: number;
  minutesInterval: number;
  #clockOffsetMs: number;
  #energyKwh: number;
  #lastEnergyAt = Date.now();
  #dropAcks: number;
  readonly #clock: MeterClock;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #suffix: string;
  #stopping = false;
  /** Digital input and output bit masks (bit 0 = DI1 / DO1). */
  inputs = 0;
  outputs = 0;

  private constructor(readonly client: MqttClient, readonly options: SimulatedMeterOptions) {
    this.secondsInterval = options.secondsInterval ?? 300;
    this.minutesInterval = options.minutesInterval ?? 15;
    this.#clockOffsetMs = options.clockOffsetMs ?? 0;
    this.#energyKwh = options.energyKwh ?? 100 + Math.random() * 100;
    this.#dropAcks = options.dropAcks ?? 0;
    this.#clock = new MeterClock(options.timeZone);
    this.#suffix = commandSuffix(options.id);
    client.on("message", (topic, payload) => {
      this.#onCommand(topic, payload).catch((error) => this.#publishFailed(error));
    });
  }

  /** Connects, subscribes to the meter's command topics and starts publishing. */
  static async start(options: SimulatedMeterOptions): Promise<SimulatedMeter> {
    const client = await mqtt.connectAsync(options.url, {
      clientId: `meter-${options.id}`,
      username: options.username,
      password: options.password,
      reconnectPeriod: 1000,
    });
    const meter = new SimulatedMeter(client, options);
    const suffix = commandSuffix(options.id);
    await client.subscribeAsync(
      ["SET", "SETTIME", "TELECTRL", "RECONFIG", "COMMOD_SET", "COMMOD_READ", "SYS_CFG", "SYS_READ"]
        .map((name) => `MQTT_${name}_${suffix}`),
      { qos: 1 },
    );
    if (options.autoPublish ?? true) meter.#schedule();
    return meter;
  }

  /** The meter clock now, `yyyyMMddHHmmss`. */
  meterTime(): string {
    return this.#clock.meterTimeAt(Date.now() + this.#clockOffsetMs);
  }

  /** Meter clock minus real time, in ms. */
  get clockOffsetMs(): number {
    return this.#clockOffsetMs;
  }

  #schedule(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    const scale = this.options.timeScale ?? 1;
    this.#timers.push(
      setInterval(
        () => this.publishInstant().catch((error) => this.#publishFailed(error)),
        (this.secondsInterval * 1000) / scale,
      ),
      setInterval(
        () => this.publishEnergy().catch((error) => this.#publishFailed(error)),
        (this.minutesInterval * 60_000) / scale,
      ),
    );
  }

  /** A real meter keeps running when its broker is away; so does the simulation. */
  #publishFailed(error: Error): void {
    if (this.#stopping) return;
    console.warn(`meter ${this.options.id}: publish failed (${error.message})`);
  }

  async #publish(topic: string, reading: Record<string, unknown>): Promise<void> {
    const payload = { id: this.options.id, ...reading, time: this.meterTime(), isend: "1" };
    if (this.options.zeroBursts) {
      const zero = Object.fromEntries(
        Object.entries(payload).map(([k, v]) => [k, typeof v === "number" ? 0 : v]),
      );
      await this.client.publishAsync(topic, JSON.stringify(zero), { qos: 1 });
    }
    await this.client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
    if (this.options.duplicates) {
      await this.client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
    }
  }

  /** Publishes an `MQTT_RT_DATA` reading now. */
  publishInstant(): Promise<void> {
    const total = (this.options.powerKw ?? 3) * (0.8 + Math.random() * 0.4);
    const reading: Record<string, number> = { f: round(49.95 + Math.random() * 0.1, 3) };
    let reactive = 0;
    ["a", "b", "c"].forEach((phase, i) => {
      const u = 230 + (Math.random() - 0.5) * 6;
      const p = total / 3 * (0.9 + 0.2 * Math.random());
      const pf = 0.96 + Math.random() * 0.03;
      const s = p / pf;
      const q = -Math.sqrt(s * s - p * p);
      reactive += q;
      Object.assign(reading, {
        [`u${phase}`]: round(u, 3),
        [`i${phase}`]: round((s * 1000) / u, 3),
        [`p${phase}`]: round(p, 4),
        [`q${phase}`]: round(q, 4),
        [`s${phase}`]: round(s, 4),
        [`pf${phase}`]: round(pf, 3),
        [`uxj${phase}`]: round(i * 120, 3),
      });
    });
    Object.assign(reading, {
      uab: round(reading.ua * Math.sqrt(3), 3),
      ubc: round(reading.ub * Math.sqrt(3), 3),
      uca: round(reading.uc * Math.sqrt(3), 3),
      zyggl: round(reading.pa + reading.pb + reading.pc, 4),
      zwggl: round(reactive, 4),
      zszgl: round(reading.sa + reading.sb + reading.sc, 4),
      zglys: round(
        (reading.pa + reading.pb + reading.pc) / (reading.sa + reading.sb + reading.sc),
        3,
      ),
    });
    return this.#publish("MQTT_RT_DATA", reading);
  }

  /** Publishes an `MQTT_ENY_NOW` reading now. */
  publishEnergy(): Promise<void> {
    const now = Date.now();
    const hours = (now - this.#lastEnergyAt) / 3_600_000 * (this.options.timeScale ?? 1);
    this.#lastEnergyAt = now;
    this.#energyKwh += (this.options.powerKw ?? 3) * hours;
    const total = round(this.#energyKwh, 3);
    return this.#publish("MQTT_ENY_NOW", {
      zygsz: total,
      fygsz: 0,
      zwgsz: 0,
      fwgsz: round(total * 0.07, 3),
      zszsz: round(total * 1.005, 3),
      zyjsz: round(total * 0.05, 3),
      zyfsz: round(total * 0.15, 3),
      zypsz: round(total * 0.37, 3),
      zyvsz: round(total * 0.43, 3),
    });
  }

  /** Publishes `MQTT_TELEIND` with the current inputs and outputs. */
  publishIo(): Promise<void> {
    const hex = (mask: number) => mask.toString(16).toUpperCase().padStart(8, "0");
    const payload = {
      id: this.options.id,
      value: `${hex(this.inputs)}@${hex(this.outputs)}`,
      time: this.meterTime(),
    };
    return this.client.publishAsync("MQTT_TELEIND", JSON.stringify(payload), { qos: 1 }).then(
      () => {},
    );
  }

  async #reply(topic: string, payload: Record<string, unknown>): Promise<boolean> {
    if (this.#dropAcks > 0) {
      this.#dropAcks--;
      return false;
    }
    await this.client.publishAsync(topic, JSON.stringify({ id: this.options.id, ...payload }), {
      qos: 1,
    });
    return true;
  }

  async #onCommand(topic: string, raw: Uint8Array): Promise<void> {
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      return; // a real meter ignores what it cannot parse
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return;
    const oprid = payload.oprid;
    // A real meter silently ignores a command whose oprid is not 32 characters.
    if (typeof oprid !== "string" || oprid.length !== 32) {
      this.commands.push({ topic, payload, answered: false });
      return;
    }
    let answered = false;
    const name = topic.slice("MQTT_".length, -this.#suffix.length - 1);
    if (name === "COMMOD_SET") {
      const value = Number(payload.value);
      const allowed: readonly number[] = payload.Cmd === "0000"
        ? SECONDS_LEVEL_INTERVALS
        : payload.Cmd === "0001"
        ? MINUTES_LEVEL_INTERVALS
        : [];
      const ok = allowed.includes(value);
      if (ok && payload.Cmd === "0000") this.secondsInterval = value;
      if (ok && payload.Cmd === "0001") this.minutesInterval = value;
      if (ok && (this.options.autoPublish ?? true)) this.#schedule();
      answered = await this.#reply("MQTT_COMMOD_SET_REP", { oprid, code: ok ? "01" : "02" });
    } else if (name === "COMMOD_READ") {
      const value = payload.Cmd === "0000" ? this.secondsInterval : this.minutesInterval;
      answered = await this.#reply("MQTT_COMMOD_READ_REP", {
        oprid,
        code: "01",
        Cmd: payload.Cmd,
        value: String(value),
      });
    } else if (name === "SETTIME") {
      const time = String(payload.time);
      const ok = typeof parseMeterTime(time) !== "string";
      if (ok) this.#clockOffsetMs = this.#clock.instantOf(time) - Date.now();
      answered = await this.#reply("MQTT_METER_TIME_REP", { oprid, code: ok ? "01" : "02" });
    } else if (name === "TELECTRL") {
      const ok = payload.do1 === "0" || payload.do1 === "1";
      if (ok) this.outputs = payload.do1 === "1" ? this.outputs | 1 : this.outputs & ~1;
      answered = await this.#reply(
        "MQTT_TELECTRL_REP",
        ok ? { oprid, code: "01", do1: payload.do1 } : { oprid, code: "02" },
      );
      // Like a real meter, it reports the changed output state.
      if (ok) await this.publishIo();
    }
    this.commands.push({ topic, payload, answered });
  }

  /** Stops publishing and disconnects. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await this.client.endAsync();
  }
}
