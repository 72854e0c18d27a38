/**
 * What a settled meter command means to the people waiting for it: why it
 * failed, what a command sent but never acknowledged may have done, and
 * what a successful one adds to its request's answer. Pure.
 *
 * @module
 */
import type { MeterCommandRequest } from "../protocol/bridge_api.ts";
import type { MeterCommand } from "../protocol/commands.ts";
import { IntervalReadReplyPayload, RelayReplyPayload } from "../protocol/uplink.ts";
import type { CommandResult } from "./command_dispatcher.ts";

/** Why a command failed, and for one sent but never acknowledged, what that may mean. */
export function failure(command: MeterCommand, result: CommandResult & { ok: false }): string {
  if (result.outcome !== "unanswered") return result.reason;
  return `${result.reason}; sent, not acknowledged: ${mayHaveTakenEffect(command)}`;
}

/** What a command sent but never acknowledged may have done at the meter. */
export function mayHaveTakenEffect(
  command: Pick<MeterCommand, "kind"> | MeterCommandRequest,
): string {
  const relay = "kind" in command ? command.kind === "relay" : command.action === "relay";
  return relay ? "the relay may have switched" : "the meter may have applied it";
}

/** What a successful command adds to its request's response data. */
export function resultData(command: MeterCommand, reply: unknown): Record<string, unknown> {
  switch (command.kind) {
    case "clock":
      return { time: command.time };
    case "interval_seconds":
      return { seconds: command.value };
    case "interval_minutes":
      return { minutes: command.value };
    case "read_interval_seconds":
    case "read_interval_minutes": {
      const read = IntervalReadReplyPayload.safeParse(reply);
      return { [command.level]: read.success ? Number(read.data.value) : null };
    }
    case "relay": {
      const relay = RelayReplyPayload.safeParse(reply);
      const on = relay.success && relay.data.do1 !== undefined
        ? relay.data.do1 === "1"
        : command.on;
      return { state: on ? "ON" : "OFF" };
    }
  }
}
