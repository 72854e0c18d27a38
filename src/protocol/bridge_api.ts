/**
 * The bridge API on the central broker, Zigbee2MQTT style: a request on
 * `<root>/bridge/request/<action>` is answered on
 * `<root>/bridge/response/<action>` with
 * `{"status":"ok"|"error","data":…,"error":…,"transaction":…}`, echoing the
 * caller's `transaction`. Parsing and answers are pure; no request can make
 * the bridge fail, only get an error response.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "./meter_id.ts";
import { MinutesLevelInterval, SecondsLevelInterval } from "./upload_interval.ts";

/** A caller's correlation value, echoed in the response. */
export const Transaction = z.union([z.string().max(256), z.number()]);
/** A caller's correlation value. */
export type Transaction = z.infer<typeof Transaction>;

const base = { transaction: Transaction.optional() };

/** Request payload schema of each action. */
export const API_REQUESTS = {
  health: z.strictObject(base),
  "config/reload": z.strictObject(base),
  "outbox/acknowledge": z.strictObject(base),
  "meter/sync_time": z.strictObject({ ...base, id: MeterId }),
  "meter/read_interval": z.strictObject({ ...base, id: MeterId }),
  "meter/reset_history": z.strictObject({ ...base, id: MeterId }),
  "meter/set_interval": z.strictObject({
    ...base,
    id: MeterId,
    seconds: SecondsLevelInterval.optional(),
    minutes: MinutesLevelInterval.optional(),
  }).refine((request) => request.seconds !== undefined || request.minutes !== undefined, {
    error: "give seconds, minutes or both",
  }),
} as const;

/** An action of the bridge API. */
export type ApiAction = keyof typeof API_REQUESTS;

/** Every action, for messages and documentation. */
export const API_ACTIONS = Object.keys(API_REQUESTS) as ApiAction[];

/** A validated request. */
export type ApiRequest = {
  [A in ApiAction]: { readonly action: A } & z.infer<(typeof API_REQUESTS)[A]>;
}[ApiAction];

/** A command the config sender carries out for the API or the relay switch. */
export const MeterCommandRequest = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("sync_time"), id: MeterId }),
  z.strictObject({ action: z.literal("read_interval"), id: MeterId }),
  z.strictObject({
    action: z.literal("set_interval"),
    id: MeterId,
    seconds: SecondsLevelInterval.optional(),
    minutes: MinutesLevelInterval.optional(),
  }).refine((command) => command.seconds !== undefined || command.minutes !== undefined, {
    error: "give seconds, minutes or both",
  }),
  z.strictObject({ action: z.literal("relay"), id: MeterId, on: z.boolean() }),
]);
/** A command the config sender carries out. */
export type MeterCommandRequest = z.infer<typeof MeterCommandRequest>;

/**
 * Requests for one meter in progress at most; more are refused at once, so
 * one client flooding one meter never crowds out the others. Identical
 * requests in a row are carried out once and all answered.
 */
export const MAX_REQUESTS_PER_METER = 5;

/**
 * How long a meter command request may take before it is answered: each
 * attempt its whole acknowledgement timeout, with retry pauses between, and
 * time to wait behind the meter's earlier commands.
 */
export function requestTimeoutMs(ackTimeoutSeconds: number, retries: number): number {
  return (ackTimeoutSeconds * 2 * (retries + 1) + 30) * 1000;
}

/** Whether two requests ask the meter for the same thing (and may share one answer). */
export function sameRequest(a: MeterCommandRequest, b: MeterCommandRequest): boolean {
  return JSON.stringify(a, Object.keys(a).sort()) === JSON.stringify(b, Object.keys(b).sort());
}

/** Payload of `<root>/bridge/response/<action>`. */
export const ApiResponse = z.object({
  status: z.enum(["ok", "error"]),
  data: z.record(z.string(), z.unknown()),
  error: z.string().optional(),
  transaction: Transaction.optional(),
});
/** Payload of `<root>/bridge/response/<action>`. */
export type ApiResponse = z.infer<typeof ApiResponse>;

/** A request that could not be accepted: the error response to send, and where. */
export interface RejectedRequest {
  readonly action: string;
  readonly response: ApiResponse;
}

/** The largest request payload read; anything larger is answered with an error. */
export const MAX_REQUEST_BYTES = 4096;

const SAFE_ACTION = /^[a-z0-9_-]{1,32}(\/[a-z0-9_-]{1,32}){0,3}$/;

/** `<root>/bridge/request/+/…`: the subscription filter of requests. */
export function requestFilter(root: string): string {
  return `${root}/bridge/request/#`;
}

/** `<root>/bridge/response/<action>`. */
export function responseTopic(root: string, action: string): string {
  return `${root}/bridge/response/${action}`;
}

/** A successful response. */
export function okResponse(data: Record<string, unknown>, transaction?: Transaction): ApiResponse {
  return { status: "ok", data, ...(transaction === undefined ? {} : { transaction }) };
}

/** An error response with a message the caller can act on. */
export function errorResponse(error: string, transaction?: Transaction): ApiResponse {
  return {
    status: "error",
    data: {},
    error,
    ...(transaction === undefined ? {} : { transaction }),
  };
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const path = issue.path.join(".");
    if (issue.code === "unrecognized_keys") return `unknown key ${issue.keys.join(", ")}`;
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  }).join("; ");
}

/**
 * Parses a request received on `topic`. An empty payload means `{}`; the
 * `transaction` of an invalid request is still echoed when it can be read.
 */
export function parseRequest(
  root: string,
  topic: string,
  payload: Uint8Array,
): ApiRequest | RejectedRequest {
  const prefix = `${root}/bridge/request/`;
  const requested = topic.startsWith(prefix) ? topic.slice(prefix.length) : topic;
  // The response topic is built from the action: an odd one is answered on `…/response/invalid`.
  const action = SAFE_ACTION.test(requested) ? requested : "invalid";
  if (payload.byteLength > MAX_REQUEST_BYTES) {
    return rejected(action, `request larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  let json: unknown = {};
  if (payload.byteLength > 0) {
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
    } catch {
      return rejected(action, 'request is not JSON; send an object such as {"transaction":"1"}');
    }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return rejected(action, "request must be a JSON object");
  }
  const raw = (json as Record<string, unknown>).transaction;
  const transaction = Transaction.safeParse(raw).success ? raw as Transaction : undefined;
  if (!Object.hasOwn(API_REQUESTS, action)) {
    return rejected(
      action,
      `unknown action ${JSON.stringify(action)}; actions: ${API_ACTIONS.join(", ")}`,
      transaction,
    );
  }
  const parsed = API_REQUESTS[action as ApiAction].safeParse(json);
  if (!parsed.success) return rejected(action, describeIssues(parsed.error), transaction);
  return { action, ...parsed.data } as ApiRequest;
}

function rejected(action: string, error: string, transaction?: Transaction): RejectedRequest {
  return { action, response: errorResponse(error, transaction) };
}

/** Whether a parse result is a rejection. */
export function isRejected(result: ApiRequest | RejectedRequest): result is RejectedRequest {
  return "response" in result;
}
