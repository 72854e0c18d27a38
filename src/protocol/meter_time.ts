/**
 * The meter clock: `time` tags in `yyyyMMddHHmmss`, the meter's local wall
 * time without a zone, and their conversion to ISO 8601 instants in the
 * configured meter time zone.
 *
 * @module
 */
import { z } from "zod";

/** Wall-clock fields of a meter time. */
export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const METER_TIME_PATTERN = /^\d{14}$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses `yyyyMMddHHmmss` into wall-clock fields.
 *
 * @returns the fields, or a reason why the text is not a valid meter time
 */
export function parseMeterTime(text: string): WallTime | string {
  if (!METER_TIME_PATTERN.test(text)) return "time must be 14 digits yyyyMMddHHmmss";
  const year = +text.slice(0, 4);
  const month = +text.slice(4, 6);
  const day = +text.slice(6, 8);
  const hour = +text.slice(8, 10);
  const minute = +text.slice(10, 12);
  const second = +text.slice(12, 14);
  if (month < 1 || month > 12) return `time has month ${month}, not 01-12`;
  if (day < 1 || day > daysInMonth(year, month)) {
    return `time has day ${day}, not a day of that month`;
  }
  if (hour > 23 || minute > 59 || second > 59) {
    return "time has an hour, minute or second out of range";
  }
  return { year, month, day, hour, minute, second };
}

/** A valid meter time string (`yyyyMMddHHmmss`). */
export const MeterTime = z.string().check((ctx) => {
  const parsed = parseMeterTime(ctx.value);
  if (typeof parsed === "string") {
    ctx.issues.push({ code: "custom", message: parsed, input: ctx.value });
  }
});

/** A valid meter time string (`yyyyMMddHHmmss`). */
export type MeterTime = z.infer<typeof MeterTime>;

/** Whether a string names a time zone this runtime knows (IANA name). */
/**
 * This machine's time zone (from `TZ` or `/etc/localtime`, as the runtime
 * resolves it), or UTC when it has none: meters installed beside the gateway
 * most likely keep its local time.
 */
export function hostTimeZone(): string {
  const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone !== undefined && isTimeZone(zone) ? zone : "UTC";
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

function formatOffset(offsetMinutes: number): string {
  if (offsetMinutes === 0) return "Z";
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const CACHE_LIMIT = 4096;

/**
 * Converts between meter wall-clock time and instants in one IANA time zone.
 *
 * `Intl` look-ups cost microseconds, so offsets are cached per wall-clock
 * minute and timestamps per meter time: thousands of meters reporting the
 * same minute share one look-up.
 */
export class MeterClock {
  readonly #format: Intl.DateTimeFormat;
  readonly #offsets = new Map<string, number>();
  readonly #timestamps = new Map<string, string>();
  readonly #instants = new Map<string, number>();

  /** @param timeZone IANA time zone name, e.g. `Europe/Vienna` */
  constructor(readonly timeZone: string) {
    this.#format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  }

  /** The wall-clock time in this zone at an instant (epoch milliseconds). */
  wallTimeAt(epochMs: number): WallTime {
    const wall: Record<keyof WallTime, number> = {
      year: NaN,
      month: NaN,
      day: NaN,
      hour: NaN,
      minute: NaN,
      second: NaN,
    };
    for (const { type, value } of this.#format.formatToParts(new Date(epochMs))) {
      if (type in wall) wall[type as keyof WallTime] = Number(value);
    }
    return wall;
  }

  /** Offset from UTC in minutes at an instant. */
  offsetAt(epochMs: number): number {
    const wall = this.wallTimeAt(epochMs);
    const asUtc = Date.UTC(
      wall.year,
      wall.month - 1,
      wall.day,
      wall.hour,
      wall.minute,
      wall.second,
    );
    return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60_000);
  }

  /**
   * Offset in minutes that applies to a wall-clock time. In the repeated hour
   * after a DST change the earlier (summer) offset is taken; a time inside the
   * skipped hour gets the offset in force before the change.
   */
  offsetForWallTime(wall: WallTime): number {
    const naive = Date.UTC(
      wall.year,
      wall.month - 1,
      wall.day,
      wall.hour,
      wall.minute,
      wall.second,
    );
    const before = this.offsetAt(naive - 86_400_000 / 2);
    const after = this.offsetAt(naive + 86_400_000 / 2);
    if (before === after) return before;
    // A transition lies within ±12 h: check which offsets map back to this wall time.
    const candidates = [before, after].filter((offset) =>
      this.offsetAt(naive - offset * 60_000) === offset
    );
    return candidates.length > 0 ? Math.max(...candidates) : before;
  }

  /** The instant (epoch milliseconds) of a valid `yyyyMMddHHmmss` meter time. */
  instantOf(time: string): number {
    // Every reading is checked for clock drift: most share their time with other meters' readings.
    const cached = this.#instants.get(time);
    if (cached !== undefined) return cached;
    const wall = parseMeterTime(time);
    if (typeof wall === "string") throw new RangeError(`invalid meter time "${time}": ${wall}`);
    const naive = Date.UTC(
      wall.year,
      wall.month - 1,
      wall.day,
      wall.hour,
      wall.minute,
      wall.second,
    );
    const instant = naive - this.#cachedOffset(time, wall) * 60_000;
    if (this.#instants.size >= CACHE_LIMIT) this.#instants.clear();
    this.#instants.set(time, instant);
    return instant;
  }

  /**
   * ISO 8601 timestamp with the zone's offset for a valid meter time,
   * e.g. `20260112163900` in Europe/Vienna → `2026-01-12T16:39:00+01:00`.
   */
  isoTimestamp(time: string): string {
    let iso = this.#timestamps.get(time);
    if (iso !== undefined) return iso;
    const wall = parseMeterTime(time);
    if (typeof wall === "string") throw new RangeError(`invalid meter time "${time}": ${wall}`);
    iso = `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${
      pad(wall.minute)
    }:${pad(wall.second)}${formatOffset(this.#cachedOffset(time, wall))}`;
    if (this.#timestamps.size >= CACHE_LIMIT) this.#timestamps.clear();
    this.#timestamps.set(time, iso);
    return iso;
  }

  /** Formats an instant as the meter time (`yyyyMMddHHmmss`) in this zone. */
  meterTimeAt(epochMs: number): string {
    const w = this.wallTimeAt(epochMs);
    return `${pad(w.year, 4)}${pad(w.month)}${pad(w.day)}${pad(w.hour)}${pad(w.minute)}${
      pad(w.second)
    }`;
  }

  #cachedOffset(time: string, wall: WallTime): number {
    const minuteKey = time.slice(0, 12);
    let offset = this.#offsets.get(minuteKey);
    if (offset === undefined) {
      if (this.#offsets.size >= CACHE_LIMIT) this.#offsets.clear();
      offset = this.offsetForWallTime(wall);
      this.#offsets.set(minuteKey, offset);
    }
    return offset;
  }
}
