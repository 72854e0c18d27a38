/**
 * What a simulated meter keeps across restarts, as a real KPM33B keeps it in
 * non-volatile memory: its energy registers, its upload intervals and output
 * DO1 as last set by commands, and its clock. The simulator's state file
 * holds one entry per meter.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "../protocol/meter_id.ts";

/** One meter's memory. */
export const MeterMemory = z.object({
  /** Total import active energy register, kWh (the other registers derive from it). */
  import_kwh: z.number().nonnegative(),
  upload_interval_seconds: z.number().int().positive(),
  upload_interval_minutes: z.number().int().positive(),
  /** Output bit mask (bit 0 = DO1). */
  outputs: z.number().int().nonnegative(),
  /** Meter clock minus real time, ms. */
  clock_offset_ms: z.number(),
});
/** One meter's memory. */
export type MeterMemory = z.infer<typeof MeterMemory>;

/** The simulator's state file. */
export const SimulatorState = z.object({
  version: z.literal(1),
  meters: z.record(MeterId, MeterMemory),
});
/** The simulator's state file. */
export type SimulatorState = z.infer<typeof SimulatorState>;
