/**
 * Admission of new meter ids: whether a reading of a meter the bridge has not
 * seen before may create a meter (its announcement, Home Assistant device and
 * configuration commands). Anyone with the shared meter password can invent
 * ids; without a bound, a few hundred invented ids a second fill central
 * with retained topics and delay the real meters' commands.
 *
 * Two rules, both optional (`meters.admission`): an allow-list of ids and id
 * patterns, and a rate of new ids (a token bucket: `burst` at once, then
 * `new_per_minute`). Meters already known (announced, or with a filter
 * history from before a restart) are not new and pass without a token. A
 * refused reading is not published; the meter is admitted with a later
 * reading once the rate allows, since meters report periodically. Pure: the
 * caller says whether the meter is known and passes the time.
 *
 * @module
 */
import { z } from "zod";
import { TokenBucket } from "../runtime/token_bucket.ts";
import type { MeterId } from "./meter_id.ts";

/**
 * An allow-list entry: a whole meter id (`33B1225950027`) or a prefix ending
 * in `*` (`33B12259500*`). The `*` is the only wildcard; nothing is a regex.
 */
export const MeterIdPattern = z.string().regex(/^(?:[0-9A-Z]{13}|[0-9A-Z]{0,12}\*)$/, {
  error: (issue) =>
    `${
      JSON.stringify(issue.input)
    } is neither a meter id (13 characters 0-9 or A-Z) nor a prefix ending in *, e.g. 33B12259500*`,
});

/** Codes of refused meters, counted with the rejected messages. */
export type AdmissionCode = "not_allowed" | "not_admitted";

/** Settings of the admission. */
export interface AdmissionOptions {
  /** New meter ids admitted per minute once the burst is spent; 0 is unlimited. */
  readonly newPerMinute: number;
  /** New meter ids admitted at once after a quiet spell; at least 1. */
  readonly burst: number;
  /** Ids and id patterns allowed; empty allows every id. */
  readonly allow: readonly string[];
  /** New ids remembered as admitted at most (`limits.max_meters`). */
  readonly maxRemembered: number;
}

/** Whether a meter's reading may pass. */
export type AdmissionVerdict =
  | {
    readonly admitted: true;
    /** It was a new meter and took one of the rate's tokens. */
    readonly counted: boolean;
  }
  | {
    readonly admitted: false;
    readonly code: AdmissionCode;
    /** Why, naming the config key that admits the meter. */
    readonly reason: string;
  };

/** An allow-list compiled for lookups: exact ids in a set, prefixes in a list. */
interface AllowList {
  readonly ids: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

function compile(allow: readonly string[]): AllowList {
  const ids = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of allow) {
    if (entry.endsWith("*")) prefixes.push(entry.slice(0, -1));
    else ids.add(entry);
  }
  return { ids, prefixes };
}

/** Decides per meter whether its readings may create it. */
export class MeterAdmission {
  #options!: AdmissionOptions;
  #allow!: AllowList;
  readonly #bucket: TokenBucket;
  /**
   * New ids admitted, oldest first: known from then on, also when their first
   * reading was not published (implausible) and so left no other trace.
   */
  readonly #admitted = new Set<MeterId>();

  constructor(options: AdmissionOptions, now: number) {
    this.#bucket = new TokenBucket(bucketOptions(options), now);
    this.reconfigure(options);
  }

  /** Applies new settings; the tokens left and the ids admitted are kept. */
  reconfigure(options: AdmissionOptions): void {
    this.#options = options;
    this.#allow = compile(options.allow);
    this.#bucket.options = bucketOptions(options);
    while (this.#admitted.size > options.maxRemembered) this.#forgetOldest();
  }

  /** Whether the id is on the allow-list (always, when the list is empty). */
  allows(id: MeterId): boolean {
    const { ids, prefixes } = this.#allow;
    if (ids.size === 0 && prefixes.length === 0) return true;
    return ids.has(id) || prefixes.some((prefix) => id.startsWith(prefix));
  }

  /**
   * Decides on a reading of `id` at `now` (epoch ms). `known`: the bridge
   * knew the meter before (announced, or with a filter history). Meters the
   * allow-list names by their whole id are known too: the operator listed them.
   */
  check(id: MeterId, known: boolean, now: number): AdmissionVerdict {
    if (!this.allows(id)) {
      return {
        admitted: false,
        code: "not_allowed",
        reason: `meter ${id} is not in meters.admission.allow; add its id (or a pattern such ` +
          `as ${id.slice(0, 11)}*) to admit it`,
      };
    }
    if (known || this.#admitted.has(id) || this.#allow.ids.has(id)) {
      return { admitted: true, counted: false };
    }
    if (!this.#bucket.take(now)) {
      const { burst, newPerMinute } = this.#options;
      return {
        admitted: false,
        code: "not_admitted",
        reason: `new meter ${id} refused: more than ${burst} new meters at once or ` +
          `${newPerMinute} a minute (meters.admission.burst, meters.admission.new_per_minute); ` +
          "it is admitted with a later reading when the rate allows. If these are your meters, " +
          "raise the limits or list them in meters.admission.allow",
      };
    }
    if (this.#admitted.size >= this.#options.maxRemembered) this.#forgetOldest();
    this.#admitted.add(id);
    return { admitted: true, counted: true };
  }

  #forgetOldest(): void {
    const oldest = this.#admitted.values().next().value;
    if (oldest !== undefined) this.#admitted.delete(oldest);
  }
}

function bucketOptions(options: AdmissionOptions) {
  return { ratePerSecond: options.newPerMinute / 60, burst: options.burst };
}
