/**
 * Decoding of raw uplink messages: size limit, UTF-8, JSON, schema.
 *
 * @module
 */
import type { z } from "zod";
import { isMeterId, type MeterId } from "./meter_id.ts";
import { parseMeterTime } from "./meter_time.ts";
import { LAYOUTS, type Reading } from "./reading.ts";
import { quote, reject, type Rejection } from "./rejection.ts";
import {
  isReadingTopic,
  isUplinkTopic,
  READING_TOPICS,
  UPLINK_SCHEMAS,
  type UplinkPayload,
  type UplinkTopic,
} from "./uplink.ts";

/**
 * A decoded uplink message of a known topic. Distributed over the topics, so
 * that checking `topic` narrows `payload` to that topic's schema type.
 */
export type Decoded<T extends UplinkTopic = UplinkTopic> = {
  [K in T]: { readonly ok: true; readonly topic: K; readonly payload: UplinkPayload<K> };
}[T];

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses bytes into a JSON object, or explains why they are not one.
 *
 * @param maxBytes payloads larger than this are rejected before parsing
 */
export function parseJsonObject(
  bytes: Uint8Array,
  maxBytes: number,
): { readonly ok: true; readonly value: Record<string, unknown> } | Rejection {
  if (bytes.byteLength > maxBytes) {
    return reject(
      "oversized",
      `payload of ${bytes.byteLength} bytes exceeds limits.max_payload_bytes (${maxBytes})`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return reject("not_utf8", "payload is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return reject("not_json", `payload is not JSON (${(error as Error).message}): ${quote(text)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const kind = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
    return reject("not_object", `payload must be a JSON object, got ${kind}`);
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function describeIssues(error: z.ZodError, payload: Record<string, unknown>): Rejection {
  const issue = error.issues[0];
  // Zod reports at least one issue for a failed parse.
  if (issue === undefined) return reject("invalid_payload", "payload does not match its schema");
  const key = issue.path.length > 0 ? String(issue.path[0]) : "";
  const where = key === "" ? "payload" : `tag "${key}"`;
  const got = key === "" ? "" : `, got ${quote(payload[key])}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
  return reject(
    key === "id" ? "invalid_id" : "invalid_payload",
    `${where}: ${issue.message}${got}${more}`,
  );
}

/** Validates a parsed JSON object against the schema of its uplink topic. */
export function validateUplink<T extends UplinkTopic>(
  topic: T,
  payload: Record<string, unknown>,
): Decoded<T> | Rejection {
  const result = UPLINK_SCHEMAS[topic].safeParse(payload);
  if (!result.success) return describeIssues(result.error, payload);
  return { ok: true, topic, payload: result.data } as Decoded<T>;
}

/**
 * Decodes a raw uplink message: size limit, UTF-8, JSON object, then the
 * schema of its topic (`UPLINK_SCHEMAS`). A topic known to the caller gives
 * that topic's payload type; any other string is checked to be an uplink
 * topic first.
 *
 * @param maxBytes payloads larger than this are rejected before parsing (`limits.max_payload_bytes`)
 */
export function decodeUplink<T extends UplinkTopic>(
  topic: T,
  bytes: Uint8Array,
  maxBytes: number,
): Decoded<T> | Rejection;
export function decodeUplink(
  topic: string,
  bytes: Uint8Array,
  maxBytes: number,
): Decoded | Rejection;
export function decodeUplink(
  topic: string,
  bytes: Uint8Array,
  maxBytes: number,
): Decoded | Rejection {
  if (!isUplinkTopic(topic)) return reject("unknown_topic", `unknown topic ${quote(topic)}`);
  const json = parseJsonObject(bytes, maxBytes);
  if (!json.ok) return json;
  return validateUplink(topic, json.value);
}

// Thousands of meters report the same few times: remember valid ones.
const validTimes = new Set<string>();
const VALID_TIMES_LIMIT = 4096;

function isValidTimeCached(time: string): boolean {
  if (validTimes.has(time)) return true;
  if (typeof parseMeterTime(time) === "string") return false;
  if (validTimes.size >= VALID_TIMES_LIMIT) validTimes.clear();
  validTimes.add(time);
  return true;
}

/**
 * Reads a payload's known tags into values. The common case, where every
 * known tag is a JSON number or null and id, time and isend are valid, is
 * exactly what the schema would accept, so it skips the schema's cost.
 * Anything else goes through the schema, which coerces numeric strings and
 * explains rejections.
 *
 * @returns the values and their count, or `undefined` when the payload needs the schema
 */
function plainValues(
  payload: Record<string, unknown>,
  index: ReadonlyMap<string, number>,
): { values: number[]; count: number } | undefined {
  if (!isMeterId(payload.id)) return undefined;
  const time = payload.time;
  if (typeof time !== "string" || !isValidTimeCached(time)) return undefined;
  const isend = payload.isend;
  if (isend !== undefined && isend !== "0" && isend !== "1") return undefined;
  const values = new Array<number>(index.size).fill(NaN);
  let count = 0;
  // for-in over a parsed object uses V8's enum cache: faster than keyed look-ups per tag.
  for (const key in payload) {
    const i = index.get(key);
    if (i === undefined) continue;
    const value = payload[key];
    // JSON like 1e999 parses to Infinity: left to the schema, which rejects it.
    if (typeof value === "number" && Number.isFinite(value)) values[i] = value;
    else if (value !== null) return undefined;
    count++;
  }
  return { values, count };
}

/**
 * Decodes a message of a reading topic into a {@link Reading}: known tags
 * only, numbers coerced. A reading without any known tag is rejected.
 */
export function decodeReading(
  topic: string,
  bytes: Uint8Array,
  maxBytes: number,
): Reading | Rejection {
  if (!isReadingTopic(topic)) {
    return reject("unknown_topic", `not a reading topic: ${quote(topic)}`);
  }
  const json = parseJsonObject(bytes, maxBytes);
  if (!json.ok) return json;
  const { level } = READING_TOPICS[topic];
  const { index } = LAYOUTS[level];
  let payload = json.value;
  let plain = plainValues(payload, index);
  if (plain === undefined) {
    const validated = validateUplink(topic, payload);
    if (!validated.ok) return validated;
    payload = validated.payload;
    plain = plainValues(payload, index)!;
  }
  if (plain.count === 0) {
    return reject("no_measurements", `${topic} payload carries none of the known measurement tags`);
  }
  return {
    level,
    id: payload.id as MeterId,
    time: payload.time as string,
    final: payload.isend !== "0",
    values: plain.values,
  };
}
