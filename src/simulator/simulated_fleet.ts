/**
 * Thousands of simulated meters over a few connections: the load generator
 * for scale tests and `deno task simulate --meters 100000`. Each meter is a
 * {@link MeterModel} publishing at its own upload intervals (with a random
 * phase, as real meters are not in step) and answering its commands; its
 * first readings can be squeezed into a short window, as when every meter
 * reconnects after a power cut.
 *
 * @module
 */
import type { MeterId } from "../protocol/meter_id.ts";
import { CONSOLE_LOG, MeterConnection, type SimulatorLog } from "./meter_connection.ts";
import type { MeterMemory } from "./meter_memory.ts";
import { MeterModel } from "./meter_model.ts";
import { zeroCopy } from "./simulated_meter.ts";

/** How a fleet behaves. */
export interface SimulatedFleetOptions {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly ids: readonly MeterId[];
  /** Zone the meter clocks show. */
  readonly timeZone: string;
  /** Meter clock minus real time at start, in ms. */
  readonly clockOffsetMs?: number;
  /** Factory upload intervals (default 300 s and 15 min, as shipped). */
  readonly secondsInterval?: number;
  readonly minutesInterval?: number;
  /** Publish this many times faster than the upload intervals say. */
  readonly timeScale?: number;
  /** Send each reading twice, as real KPM33B meters do. */
  readonly duplicates?: boolean;
  /** Precede each reading with an all-zero copy. */
  readonly zeroBursts?: boolean;
  /** Meters per connection; default 1000. */
  readonly metersPerConnection?: number;
  /**
   * Client ids are `<prefix>-<first meter id of the connection>` (default
   * prefix `meter`): a meter's own, so several fleets with distinct meters
   * never take each other's connections over.
   */
  readonly clientIdPrefix?: string;
  /**
   * Every meter's first readings fall within this many milliseconds of the
   * start (a mass reconnect); default one seconds-level interval.
   */
  readonly appearWithinMs?: number;
  /** Leave each meter's first this many acknowledgements unsent (the commands still apply). */
  readonly dropAcks?: number;
  /** Log each command received and how it was answered. */
  readonly verbose?: boolean;
  /**
   * What meters kept from a previous run ({@link SimulatedFleet.memories}):
   * those listed continue with their registers, intervals, outputs and clock.
   */
  readonly memories?: Readonly<Record<MeterId, MeterMemory>>;
  /** Where connection changes and, with `verbose`, commands are logged (default the console). */
  readonly log?: SimulatorLog;
}

/** A connection's client id: `<prefix>-<its first meter id>`. */
export function fleetClientId(prefix: string | undefined, firstId: MeterId): string {
  return `${prefix ?? "meter"}-${firstId}`;
}

/** The command topics the bridge uses: intervals, clock, relay. */
const COMMANDS = ["COMMOD_SET", "COMMOD_READ", "SETTIME", "TELECTRL"];

/** What a meter acknowledges to count as configured: both intervals and its clock. */
const CONFIGURATION = ["interval 0000", "interval 0001", "clock"];

/** Resolution of the publishing schedule. */
const TICK_MS = 50;

type Level = "instant" | "energy";

/** A reading due: of which meter and level, and for which schedule of the meter. */
type Due = readonly [id: MeterId, level: Level, schedule: number];

/** Many simulated meters. */
export class SimulatedFleet {
  readonly models = new Map<MeterId, MeterModel>();
  /** Epoch ms when each meter had acknowledged both intervals and its clock. */
  readonly configuredAt = new Map<MeterId, number>();
  /** Epoch ms of each meter's first reading. */
  readonly appearedAt = new Map<MeterId, number>();
  /** Commands received and acknowledgements sent. */
  commands = 0;
  /** Readings published (duplicates and zero copies included). */
  published = 0;
  readonly #bySuffix = new Map<string, MeterModel>();
  readonly #acked = new Map<MeterId, Set<string>>();
  /** Acknowledgements left unsent so far, per meter. */
  readonly #dropped = new Map<MeterId, number>();
  /** Commands received per meter. */
  readonly commandsOf = new Map<MeterId, number>();
  readonly connections: readonly MeterConnection[];
  readonly #connectionOf = new Map<MeterId, MeterConnection>();
  readonly #log: SimulatorLog;
  /** Readings due in each tick slot. */
  readonly #slots = new Map<number, Due[]>();
  /** Each meter's current schedule: new intervals start a new one, the old entries lapse. */
  readonly #schedule = new Map<MeterId, number>();
  #slot: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #stopping = false;

  private constructor(connections: MeterConnection[], readonly options: SimulatedFleetOptions) {
    this.connections = connections;
    this.#log = options.log ?? CONSOLE_LOG;
    const now = Date.now();
    this.#slot = Math.floor(now / TICK_MS);
    const perConnection = options.metersPerConnection ?? 1000;
    const window = options.appearWithinMs ??
      (options.secondsInterval ?? 300) * 1000 / (options.timeScale ?? 1);
    options.ids.forEach((id, i) => {
      const model = new MeterModel({ ...options, id, memory: options.memories?.[id] }, now);
      this.models.set(id, model);
      this.#bySuffix.set(model.suffix, model);
      const connection = connections[Math.floor(i / perConnection)];
      if (connection !== undefined) this.#connectionOf.set(id, connection);
      const first = now + Math.random() * window;
      this.#schedule.set(id, 0);
      this.#at(first, [id, "instant", 0]);
      this.#at(first + Math.random() * Math.min(window, 1000), [id, "energy", 0]);
    });
    for (const connection of connections) {
      connection.client.on(
        "message",
        (topic, payload) => this.#onCommand(connection, topic, payload),
      );
    }
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** Connects, subscribes every meter to its command topics and starts publishing. */
  static async start(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const perConnection = options.metersPerConnection ?? 1000;
    const groups: { readonly first: MeterId; readonly ids: readonly MeterId[] }[] = [];
    for (const [i, first] of options.ids.entries()) {
      if (i % perConnection === 0) {
        groups.push({ first, ids: options.ids.slice(i, i + perConnection) });
      }
    }
    const opened = await Promise.allSettled(groups.map(({ first, ids }) =>
      MeterConnection.open({
        url: options.url,
        username: options.username,
        password: options.password,
        clientId: fleetClientId(options.clientIdPrefix, first),
        topics: ids.flatMap((id) => COMMANDS.map((name) => `MQTT_${name}_${id.slice(-8)}`)),
        label: ids.length === 1 ? `meter ${first}` : `meters ${first} … ${ids.at(-1)}`,
        log: options.log,
      })
    ));
    const connections = opened.flatMap((o) => o.status === "fulfilled" ? [o.value] : []);
    const failed = opened.find((o) => o.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(connections.map((connection) => connection.close()));
      throw failed.reason;
    }
    return new SimulatedFleet(connections, options);
  }

  #at(time: number, entry: Due): void {
    const slot = Math.max(this.#slot, Math.floor(time / TICK_MS));
    let due = this.#slots.get(slot);
    if (due === undefined) {
      due = [];
      this.#slots.set(slot, due);
    }
    due.push(entry);
  }

  #tick(): void {
    const now = Date.now();
    const last = Math.floor(now / TICK_MS);
    for (; this.#slot <= last; this.#slot++) {
      const due = this.#slots.get(this.#slot);
      if (due === undefined) continue;
      this.#slots.delete(this.#slot);
      for (const [id, level, schedule] of due) {
        if (this.#schedule.get(id) === schedule) this.#publish(id, level, schedule, now);
      }
    }
  }

  #publish(id: MeterId, level: Level, schedule: number, now: number): void {
    const model = this.models.get(id)!;
    if (!this.appearedAt.has(id)) this.appearedAt.set(id, now);
    const connection = this.#connectionOf.get(id)!;
    const topic = level === "instant" ? "MQTT_RT_DATA" : "MQTT_ENY_NOW";
    const payload = model.payload(level === "instant" ? model.instant() : model.energy(now), now);
    const send = (body: Record<string, unknown>) => {
      this.published++;
      this.#send(connection, id, topic, body);
    };
    if (this.options.zeroBursts) send(zeroCopy(payload));
    send(payload);
    if (this.options.duplicates) send(payload);
    this.#at(now + this.#intervalMs(model, level), [id, level, schedule]);
  }

  #send(
    connection: MeterConnection,
    id: MeterId,
    topic: string,
    body: Record<string, unknown>,
  ): void {
    connection.publish(topic, JSON.stringify(body)).catch((error) => {
      if (!this.#stopping) this.#log.warn(`meter ${id}: publish failed (${error.message})`);
    });
  }

  #intervalMs(model: MeterModel, level: Level): number {
    const scale = this.options.timeScale ?? 1;
    return level === "instant"
      ? model.secondsInterval * 1000 / scale
      : model.minutesInterval * 60_000 / scale;
  }

  #onCommand(connection: MeterConnection, topic: string, raw: Uint8Array): void {
    const model = this.#bySuffix.get(topic.slice(-8));
    if (model === undefined) return;
    const id = model.options.id;
    const text = new TextDecoder().decode(raw);
    const said = (what: string) => {
      if (this.options.verbose) this.#log.info(`meter ${id}: ${topic} ${text} → ${what}`);
    };
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(text);
    } catch {
      return said("ignored (not JSON)");
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      return said("ignored (not a JSON object)");
    }
    this.commands++;
    this.commandsOf.set(id, (this.commandsOf.get(id) ?? 0) + 1);
    const outcome = model.command(topic, payload);
    if (outcome.intervalsChanged) {
      // Like a real meter, it reports at the new intervals from now on.
      const schedule = this.#schedule.get(id)! + 1;
      this.#schedule.set(id, schedule);
      const now = Date.now();
      for (const level of ["instant", "energy"] as const) {
        this.#at(now + this.#intervalMs(model, level), [id, level, schedule]);
      }
    }
    if (outcome.reply === undefined) return said("ignored (oprid not 32 characters)");
    const dropped = this.#dropped.get(id) ?? 0;
    if (dropped < (this.options.dropAcks ?? 0)) {
      this.#dropped.set(id, dropped + 1);
      return said("left unanswered (--drop-acks)");
    }
    const { reply } = outcome;
    this.#send(connection, id, reply.topic, reply.payload);
    said(`${reply.topic} code ${reply.payload.code}`);
    if (outcome.outputsChanged) {
      const io = model.io();
      this.#send(connection, id, "MQTT_TELEIND", io);
      said(`MQTT_TELEIND ${io.value}`);
    }
    const setting = reply.topic === "MQTT_METER_TIME_REP"
      ? "clock"
      : reply.topic === "MQTT_COMMOD_SET_REP"
      ? `interval ${payload.Cmd}`
      : undefined;
    if (setting === undefined || reply.payload.code !== "01") return;
    const acked = this.#acked.get(id) ?? new Set();
    acked.add(setting);
    this.#acked.set(id, acked);
    if (!this.configuredAt.has(id) && CONFIGURATION.every((s) => acked.has(s))) {
      this.configuredAt.set(id, Date.now());
    }
  }

  /** What each meter keeps across a restart, as of `now`. */
  memories(now = Date.now()): Record<MeterId, MeterMemory> {
    const memories: Record<MeterId, MeterMemory> = {};
    for (const [id, model] of this.models) memories[id] = model.memory(now);
    return memories;
  }

  /** Stops publishing and disconnects every connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    await Promise.all(this.connections.map((connection) => connection.close()));
  }
}
