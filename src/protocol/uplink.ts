/**
 * Schemas of every uplink payload (meter → broker), one per fixed topic.
 *
 * Known tags are type-checked, unknown extra tags are tolerated (meters of the
 * same family send more or fewer), and a numeric string is accepted where a
 * number belongs. `UPLINK_SCHEMAS` is the one map from topic to payload type.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "./meter_id.ts";
import { MeterTime } from "./meter_time.ts";
import { DAY_TAGS, ENERGY_TAGS, INSTANT_TAGS } from "./tags.ts";

const NUMERIC_STRING = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const MEASUREMENT_ERROR = "expected a number or a numeric string";
const FINITE_ERROR = "expected a finite number (this one overflows a 64-bit float)";

/**
 * A measured value: a JSON number, or a decimal string coerced to a number.
 * `null` means the meter reported no value and stays distinguishable from 0.
 * A string like `"1e999"` is numeric but not finite: JSON cannot carry the
 * result, and as an energy register it would block every later reading.
 */
export const Measurement = z.union([
  // Any number here, so that Infinity (JSON 1e999) gets the finite-number message below.
  z.custom<number>((value) => typeof value === "number" && !Number.isNaN(value)),
  z.string().regex(NUMERIC_STRING).transform(Number),
], { error: MEASUREMENT_ERROR }).refine(Number.isFinite, { error: FINITE_ERROR }).nullable();

/** `isend`: "0" on every packet of a split reading but the last, which has "1". */
export const IsEnd = z.enum(["0", "1"], { error: 'isend must be "0" or "1"' });

function readingSchema(tags: Readonly<Record<string, unknown>>) {
  const shape: Record<string, z.ZodOptional<typeof Measurement>> = {};
  for (const tag of Object.keys(tags)) shape[tag] = Measurement.optional();
  return z.looseObject({ id: MeterId, time: MeterTime, isend: IsEnd.optional(), ...shape });
}

/** `MQTT_RT_DATA`: instantaneous values. */
export const InstantReadingPayload = readingSchema(INSTANT_TAGS);
/** `MQTT_ENY_NOW`: cumulative energy registers. */
export const EnergyReadingPayload = readingSchema(ENERGY_TAGS);
/** `MQTT_DAY_DATA`: registers frozen at midnight. */
export const DayReadingPayload = readingSchema(DAY_TAGS);

/** `MQTT_TELEIND`: digital inputs and outputs as bit masks, `DI@DO`. */
export const TeleIndPayload = z.looseObject({
  id: MeterId,
  value: z.string().regex(/^[0-9A-Fa-f]{1,8}@[0-9A-Fa-f]{1,8}$/, {
    error: 'value must be "DI@DO" with hexadecimal bit masks, e.g. 00000003@00000001',
  }),
  time: MeterTime.optional(),
});

/** Result code of a command reply: "01" success, "02" failure. */
export const ReplyCode = z.enum(["01", "02"], { error: 'code must be "01" or "02"' });

/** Reply to any command: echoes `oprid` and `id`, carries `code` and maybe `msg`. */
export const CommandReplyPayload = z.looseObject({
  id: MeterId,
  oprid: z.string().min(1).max(64),
  code: ReplyCode,
  msg: z.string().optional(),
});

/** A validated command reply. */
export type CommandReply = z.infer<typeof CommandReplyPayload>;

/** `MQTT_COMMOD_READ_REP`: the upload interval the meter reports. */
export const IntervalReadReplyPayload = CommandReplyPayload.extend({
  Cmd: z.enum(["0000", "0001"], { error: 'Cmd must be "0000" or "0001"' }),
  value: z.string().regex(/^\d+$/, { error: "value must be a decimal string" }),
});

/** `MQTT_TELECTRL_REP`: relay command reply with the outputs' states (`do1`…). */
export const RelayReplyPayload = CommandReplyPayload.extend({
  do1: z.enum(["0", "1"]).optional(),
  do2: z.enum(["0", "1"]).optional(),
});

/** Every uplink topic with the schema of its payload. */
export const UPLINK_SCHEMAS = {
  MQTT_RT_DATA: InstantReadingPayload,
  MQTT_ENY_NOW: EnergyReadingPayload,
  MQTT_DAY_DATA: DayReadingPayload,
  MQTT_TELEIND: TeleIndPayload,
  MQTT_COMMOD_SET_REP: CommandReplyPayload,
  MQTT_COMMOD_READ_REP: IntervalReadReplyPayload,
  MQTT_METER_TIME_REP: CommandReplyPayload,
  MQTT_TELECTRL_REP: RelayReplyPayload,
  MQTT_SYS_SET_REP: CommandReplyPayload,
  MQTT_SYS_REPLY: CommandReplyPayload,
  MQTT_RECONFIG_REPLY: CommandReplyPayload,
  MQTT_RECALL_REP: CommandReplyPayload,
} as const;

/** A fixed uplink topic name. */
export type UplinkTopic = keyof typeof UPLINK_SCHEMAS;

/** The validated payload type of an uplink topic. */
export type UplinkPayload<T extends UplinkTopic> = z.infer<(typeof UPLINK_SCHEMAS)[T]>;

/** Whether a topic is one of the fixed uplink topics. */
export function isUplinkTopic(topic: string): topic is UplinkTopic {
  return Object.hasOwn(UPLINK_SCHEMAS, topic);
}

/** Reading levels: which central topic a reading is published on. */
export type ReadingLevel = "seconds" | "minutes" | "day";

/** Uplink topics that carry readings, with their level and tag dictionary. */
export const READING_TOPICS = {
  MQTT_RT_DATA: { level: "seconds", tags: INSTANT_TAGS },
  MQTT_ENY_NOW: { level: "minutes", tags: ENERGY_TAGS },
  MQTT_DAY_DATA: { level: "day", tags: DAY_TAGS },
} as const;

/** An uplink topic that carries readings. */
export type ReadingTopic = keyof typeof READING_TOPICS;

/** Whether a topic carries readings. */
export function isReadingTopic(topic: string): topic is ReadingTopic {
  return Object.hasOwn(READING_TOPICS, topic);
}
