/** Simulated meters as tests start them: they publish only when the test asks. */
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter, type SimulatedMeterOptions } from "../../src/simulator/simulated_meter.ts";

/** Starts meter `id` on the broker at `url` with its clock in `timeZone`, without a publish timer. */
export function startMeter(
  url: string,
  id: MeterId,
  timeZone: string,
  options: Omit<Partial<SimulatedMeterOptions>, "url" | "id" | "timeZone"> = {},
): Promise<SimulatedMeter> {
  return SimulatedMeter.start({ url, id, timeZone, autoPublish: false, ...options });
}
