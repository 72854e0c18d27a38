/**
 * What a simulated KPM33B is, without a connection: its upload intervals,
 * clock, registers and outputs, the readings it takes and how it answers
 * each command, quirks included (a wrong-length `oprid` is ignored, an
 * invalid value is refused with code "02"). {@link SimulatedMeter} gives one
 * model its own connection, {@link SimulatedFleet} runs thousands over a few.
 *
 * @module
 */
import { METER_COMMANDS } from "../protocol/commands.ts";
import { commandSuffix, type MeterId } from "../protocol/meter_id.ts";
import { MeterClock, parseMeterTime } from "../protocol/meter_time.ts";
import { MINUTES_LEVEL_INTERVALS, SECONDS_LEVEL_INTERVALS } from "../protocol/upload_interval.ts";
import type { MeterMemory } from "./meter_memory.ts";

/** How a simulated meter behaves. */
export interface MeterModelOptions {
  readonly id: MeterId;
  /** Zone the meter clock shows (as set by the bridge). */
  readonly timeZone: string;
  /** Meter clock minus real time at start, in ms (e.g. years, like a factory-fresh meter). */
  readonly clockOffsetMs?: number;
  /** Factory upload intervals. */
  readonly secondsInterval?: number;
  readonly minutesInterval?: number;
  /** Speeds up energy accumulation along with the upload intervals. */
  readonly timeScale?: number;
  /** Average total active power in kW. */
  readonly powerKw?: number;
  /** Import energy register at start, kWh (default random, 100 to 200). */
  readonly energyKwh?: number;
  /**
   * What the meter kept from its last run ({@link MeterModel.memory}): its
   * registers, intervals, outputs and clock, instead of the options above.
   */
  readonly memory?: MeterMemory;
}

/** What a command did: the reply to publish (if any) and what changed. */
export interface CommandOutcome {
  /** Reply topic and payload (with the meter's id); undefined when the meter stays silent. */
  readonly reply?: { readonly topic: string; readonly payload: Record<string, unknown> };
  /** The upload intervals changed: readings follow the new ones. */
  readonly intervalsChanged: boolean;
  /** The outputs changed: a real meter then reports its I/O state. */
  readonly outputsChanged: boolean;
}

const SILENT: CommandOutcome = { intervalsChanged: false, outputsChanged: false };

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** One simulated meter's state and behaviour. */
export class MeterModel {
  secondsInterval: number;
  minutesInterval: number;
  /** Digital input and output bit masks (bit 0 = DI1 / DO1). */
  inputs = 0;
  outputs = 0;
  #clockOffsetMs: number;
  #energyKwh: number;
  #lastEnergyAt: number;
  readonly #clock: MeterClock;
  readonly suffix: string;

  constructor(readonly options: MeterModelOptions, now = Date.now()) {
    const memory = options.memory;
    this.secondsInterval = memory?.upload_interval_seconds ?? options.secondsInterval ?? 300;
    this.minutesInterval = memory?.upload_interval_minutes ?? options.minutesInterval ?? 15;
    this.outputs = memory?.outputs ?? 0;
    this.#clockOffsetMs = memory?.clock_offset_ms ?? options.clockOffsetMs ?? 0;
    this.#energyKwh = memory?.import_kwh ?? options.energyKwh ?? 100 + Math.random() * 100;
    this.#lastEnergyAt = now;
    this.#clock = new MeterClock(options.timeZone);
    this.suffix = commandSuffix(options.id);
  }

  /** The meter's command topics. */
  commandTopics(): string[] {
    return METER_COMMANDS.map((name) => `MQTT_${name}_${this.suffix}`);
  }

  /** The meter clock at `now`, `yyyyMMddHHmmss`. */
  meterTime(now = Date.now()): string {
    return this.#clock.meterTimeAt(now + this.#clockOffsetMs);
  }

  /** Meter clock minus real time, in ms. */
  get clockOffsetMs(): number {
    return this.#clockOffsetMs;
  }

  /** A full uplink payload: the meter's id, the values, its clock and `isend` "1". */
  payload(values: Record<string, unknown>, now = Date.now()): Record<string, unknown> {
    return { id: this.options.id, ...values, time: this.meterTime(now), isend: "1" };
  }

  /** `MQTT_RT_DATA` values now: three phases around `powerKw`. */
  instant(): Record<string, number> {
    const total = (this.options.powerKw ?? 3) * (0.8 + Math.random() * 0.4);
    const reading: Record<string, number> = { f: round(49.95 + Math.random() * 0.1, 3) };
    const voltage = { a: 0, b: 0, c: 0 };
    let active = 0;
    let reactive = 0;
    let apparent = 0;
    (["a", "b", "c"] as const).forEach((phase, i) => {
      const u = 230 + (Math.random() - 0.5) * 6;
      const p = total / 3 * (0.9 + 0.2 * Math.random());
      const pf = 0.96 + Math.random() * 0.03;
      const s = p / pf;
      const q = -Math.sqrt(s * s - p * p);
      voltage[phase] = round(u, 3);
      active += round(p, 4);
      reactive += q;
      apparent += round(s, 4);
      Object.assign(reading, {
        [`u${phase}`]: voltage[phase],
        [`i${phase}`]: round((s * 1000) / u, 3),
        [`p${phase}`]: round(p, 4),
        [`q${phase}`]: round(q, 4),
        [`s${phase}`]: round(s, 4),
        [`pf${phase}`]: round(pf, 3),
        [`uxj${phase}`]: round(i * 120, 3),
      });
    });
    Object.assign(reading, {
      uab: round(voltage.a * Math.sqrt(3), 3),
      ubc: round(voltage.b * Math.sqrt(3), 3),
      uca: round(voltage.c * Math.sqrt(3), 3),
      zyggl: round(active, 4),
      zwggl: round(reactive, 4),
      zszgl: round(apparent, 4),
      zglys: round(active / apparent, 3),
    });
    return reading;
  }

  /** The import register at `now`, kWh: it grows with `powerKw` between readings too. */
  #importKwhAt(now: number): number {
    const hours = Math.max(0, now - this.#lastEnergyAt) / 3_600_000 *
      (this.options.timeScale ?? 1);
    return this.#energyKwh + (this.options.powerKw ?? 3) * hours;
  }

  /** What the meter keeps across a restart, as of `now`. */
  memory(now = Date.now()): MeterMemory {
    return {
      import_kwh: this.#importKwhAt(now),
      upload_interval_seconds: this.secondsInterval,
      upload_interval_minutes: this.minutesInterval,
      outputs: this.outputs,
      clock_offset_ms: this.#clockOffsetMs,
    };
  }

  /** `MQTT_ENY_NOW` registers at `now`: the import register grows with `powerKw`. */
  energy(now = Date.now()): Record<string, number> {
    this.#energyKwh = this.#importKwhAt(now);
    this.#lastEnergyAt = Math.max(now, this.#lastEnergyAt);
    const total = round(this.#energyKwh, 3);
    return {
      zygsz: total,
      fygsz: 0,
      zwgsz: 0,
      fwgsz: round(total * 0.07, 3),
      zszsz: round(total * 1.005, 3),
      zyjsz: round(total * 0.05, 3),
      zyfsz: round(total * 0.15, 3),
      zypsz: round(total * 0.37, 3),
      zyvsz: round(total * 0.43, 3),
    };
  }

  /** `MQTT_TELEIND` payload with the current inputs and outputs. */
  io(now = Date.now()): Record<string, unknown> {
    const hex = (mask: number) => mask.toString(16).toUpperCase().padStart(8, "0");
    return {
      id: this.options.id,
      value: `${hex(this.inputs)}@${hex(this.outputs)}`,
      time: this.meterTime(now),
    };
  }

  /** Carries out a command received on `topic` (one of {@link commandTopics}). */
  command(topic: string, payload: Record<string, unknown>, now = Date.now()): CommandOutcome {
    const oprid = payload.oprid;
    // A real meter silently ignores a command whose oprid is not 32 characters.
    if (typeof oprid !== "string" || oprid.length !== 32) return SILENT;
    const reply = (replyTopic: string, fields: Record<string, unknown>) => ({
      topic: replyTopic,
      payload: { id: this.options.id, oprid, ...fields },
    });
    const name = topic.slice("MQTT_".length, -this.suffix.length - 1);
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
      return {
        reply: reply("MQTT_COMMOD_SET_REP", { code: ok ? "01" : "02" }),
        intervalsChanged: ok,
        outputsChanged: false,
      };
    }
    if (name === "COMMOD_READ") {
      const value = payload.Cmd === "0000" ? this.secondsInterval : this.minutesInterval;
      return {
        ...SILENT,
        reply: reply("MQTT_COMMOD_READ_REP", {
          code: "01",
          Cmd: payload.Cmd,
          value: String(value),
        }),
      };
    }
    if (name === "SETTIME") {
      const time = String(payload.time);
      const ok = typeof parseMeterTime(time) !== "string";
      if (ok) this.#clockOffsetMs = this.#clock.instantOf(time) - now;
      return { ...SILENT, reply: reply("MQTT_METER_TIME_REP", { code: ok ? "01" : "02" }) };
    }
    if (name === "TELECTRL") {
      const ok = payload.do1 === "0" || payload.do1 === "1";
      if (ok) this.outputs = payload.do1 === "1" ? this.outputs | 1 : this.outputs & ~1;
      return {
        reply: reply(
          "MQTT_TELECTRL_REP",
          ok ? { code: "01", do1: payload.do1 } : { code: "02" },
        ),
        intervalsChanged: false,
        outputsChanged: ok,
      };
    }
    return SILENT;
  }
}
