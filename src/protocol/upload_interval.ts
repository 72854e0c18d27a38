/**
 * Upload intervals: the only values meters accept for how often they publish.
 *
 * @module
 */
import { z } from "zod";

/** Seconds-level (`MQTT_RT_DATA`) intervals a meter accepts, in seconds. */
export const SECONDS_LEVEL_INTERVALS = [30, 60, 300, 600, 900, 1200, 1800, 3600] as const;
/** Minutes-level (`MQTT_ENY_NOW`) intervals a meter accepts, in minutes. */
export const MINUTES_LEVEL_INTERVALS = [1, 5, 10, 15, 20, 30, 60, 1440] as const;

function oneOf(values: readonly number[]) {
  return z.number().refine((value) => values.includes(value), {
    error: (issue) => `${issue.input} is not one of ${values.join(", ")}`,
  });
}

/** Seconds-level upload interval in seconds. */
export const SecondsLevelInterval = oneOf(SECONDS_LEVEL_INTERVALS);
/** Seconds-level upload interval in seconds. */
export type SecondsLevelInterval = z.infer<typeof SecondsLevelInterval>;

/** Minutes-level upload interval in minutes. */
export const MinutesLevelInterval = oneOf(MINUTES_LEVEL_INTERVALS);
/** Minutes-level upload interval in minutes. */
export type MinutesLevelInterval = z.infer<typeof MinutesLevelInterval>;
