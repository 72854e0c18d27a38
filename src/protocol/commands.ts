/**
 * Downlink commands (bridge → meter) and the matching of their replies.
 *
 * A meter listens on topics addressed with the last 8 characters of its id
 * and silently ignores a command whose `oprid` is not exactly 32 characters;
 * its reply echoes the `oprid` and carries `code` "01" (success) or "02".
 *
 * @module
 */
import { z } from "zod";
import { commandSuffix, type MeterId } from "./meter_id.ts";
import type { MeterTime } from "./meter_time.ts";
import type { MinutesLevelInterval, SecondsLevelInterval } from "./upload_interval.ts";
import type { CommandReply } from "./uplink.ts";

/** Command topics a meter subscribes to, by name (`MQTT_<name>_<last 8 of its id>`). */
export const METER_COMMANDS = [
  "SET",
  "SETTIME",
  "TELECTRL",
  "RECONFIG",
  "COMMOD_SET",
  "COMMOD_READ",
  "SYS_CFG",
  "SYS_READ",
] as const;

/** An operation id: exactly 32 characters, here 32 hexadecimal digits. */
export const Oprid = z.string().regex(/^[0-9a-f]{32}$/, {
  error: "oprid must be exactly 32 hexadecimal characters",
});
/** An operation id. */
export type Oprid = z.infer<typeof Oprid>;

/** What every command carries: where it goes, its wire payload and what its reply looks like. */
interface CommandEnvelope {
  readonly id: MeterId;
  readonly oprid: Oprid;
  readonly topic: string;
  /** The JSON payload as sent; read the command's typed fields instead of parsing it back. */
  readonly payload: string;
  /** The uplink topic the meter replies on. */
  readonly replyTopic: CommandReplyTopic;
  /** Human-readable summary for logs, e.g. `seconds interval 60`. */
  readonly summary: string;
  /** The bridge API or relay request this command carries out; none for the configuration flow. */
  readonly request?: string;
}

/** Sets the seconds-level upload interval. */
export interface SecondsIntervalCommand extends CommandEnvelope {
  readonly kind: "interval_seconds";
  readonly value: SecondsLevelInterval;
}

/** Sets the minutes-level upload interval. */
export interface MinutesIntervalCommand extends CommandEnvelope {
  readonly kind: "interval_minutes";
  readonly value: MinutesLevelInterval;
}

/** Sets the meter clock. */
export interface ClockCommand extends CommandEnvelope {
  readonly kind: "clock";
  /** The wall-clock time set (`yyyyMMddHHmmss`, meter time zone). */
  readonly time: MeterTime;
}

/** Reads the upload interval of one level. */
export interface IntervalReadCommand extends CommandEnvelope {
  readonly kind: "read_interval_seconds" | "read_interval_minutes";
  readonly level: "seconds" | "minutes";
}

/** Switches the relay output DO1. */
export interface RelayCommand extends CommandEnvelope {
  readonly kind: "relay";
  /** Whether DO1 is switched on. */
  readonly on: boolean;
}

/** A command ready to publish, with its typed value and what its reply looks like. */
export type MeterCommand =
  | SecondsIntervalCommand
  | MinutesIntervalCommand
  | ClockCommand
  | IntervalReadCommand
  | RelayCommand;

/** What a command sets. */
export type CommandKind = MeterCommand["kind"];

/** Uplink topics that carry replies to the commands built here. */
export const COMMAND_REPLY_TOPICS = [
  "MQTT_COMMOD_SET_REP",
  "MQTT_METER_TIME_REP",
  "MQTT_COMMOD_READ_REP",
  "MQTT_TELECTRL_REP",
] as const;

/** An uplink topic carrying replies to the commands built here. */
export type CommandReplyTopic = (typeof COMMAND_REPLY_TOPICS)[number];

/** Whether a topic carries replies to the commands built here. */
export function isCommandReplyTopic(topic: string): topic is CommandReplyTopic {
  return (COMMAND_REPLY_TOPICS as readonly string[]).includes(topic);
}

/** An upload-interval set: `Cmd` "0000" is the seconds level, "0001" the minutes level. */
function intervalSet(id: MeterId, Cmd: "0000" | "0001", value: number, oprid: Oprid) {
  return {
    id,
    oprid,
    topic: `MQTT_COMMOD_SET_${commandSuffix(id)}`,
    payload: JSON.stringify({ oprid, Cmd, value: String(value), types: "1" }),
    replyTopic: "MQTT_COMMOD_SET_REP",
  } as const;
}

/** Sets the seconds-level (`MQTT_RT_DATA`) upload interval. */
export function secondsIntervalCommand(
  id: MeterId,
  seconds: SecondsLevelInterval,
  oprid: Oprid,
): SecondsIntervalCommand {
  return {
    kind: "interval_seconds",
    value: seconds,
    ...intervalSet(id, "0000", seconds, oprid),
    summary: `seconds interval ${seconds} s`,
  };
}

/** Sets the minutes-level (`MQTT_ENY_NOW`) upload interval. */
export function minutesIntervalCommand(
  id: MeterId,
  minutes: MinutesLevelInterval,
  oprid: Oprid,
): MinutesIntervalCommand {
  return {
    kind: "interval_minutes",
    value: minutes,
    ...intervalSet(id, "0001", minutes, oprid),
    summary: `minutes interval ${minutes} min`,
  };
}

/** Sets the meter clock to a wall-clock time (`yyyyMMddHHmmss`, meter time zone). */
export function clockCommand(id: MeterId, time: MeterTime, oprid: Oprid): ClockCommand {
  return {
    kind: "clock",
    time,
    id,
    oprid,
    topic: `MQTT_SETTIME_${commandSuffix(id)}`,
    payload: JSON.stringify({ oprid, time }),
    replyTopic: "MQTT_METER_TIME_REP",
    summary: `clock ${time}`,
  };
}

/** Reads an upload interval: `Cmd` "0000" the seconds level, "0001" the minutes level. */
export function intervalReadCommand(
  id: MeterId,
  level: "seconds" | "minutes",
  oprid: Oprid,
): IntervalReadCommand {
  return {
    kind: level === "seconds" ? "read_interval_seconds" : "read_interval_minutes",
    level,
    id,
    oprid,
    topic: `MQTT_COMMOD_READ_${commandSuffix(id)}`,
    payload: JSON.stringify({ oprid, Cmd: level === "seconds" ? "0000" : "0001", types: "1" }),
    replyTopic: "MQTT_COMMOD_READ_REP",
    summary: `read ${level} interval`,
  };
}

/** Switches the relay output DO1 (KPM33B has only DO1). */
export function relayCommand(id: MeterId, on: boolean, oprid: Oprid): RelayCommand {
  return {
    kind: "relay",
    on,
    id,
    oprid,
    topic: `MQTT_TELECTRL_${commandSuffix(id)}`,
    payload: JSON.stringify({ oprid, do1: on ? "1" : "0" }),
    replyTopic: "MQTT_TELECTRL_REP",
    summary: `relay DO1 ${on ? "on" : "off"}`,
  };
}

/** How a reply relates to an outstanding command. */
export type ReplyOutcome = "success" | "failure" | "unrelated";

/** Matches a validated reply against an outstanding command. */
export function matchReply(
  command: MeterCommand,
  topic: string,
  reply: CommandReply,
): ReplyOutcome {
  if (topic !== command.replyTopic || reply.oprid !== command.oprid || reply.id !== command.id) {
    return "unrelated";
  }
  return reply.code === "01" ? "success" : "failure";
}
