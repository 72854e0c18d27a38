/**
 * `--reset-meter-history`: forgets one meter's stored filter history while
 * the bridge is stopped, for a meter replaced under the same id. Its next
 * readings are then taken as they come, as from a new meter.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import { OUTBOX_FILE } from "./open_outbox_store.ts";
import { SqliteOutboxStore } from "./sqlite_outbox_store.ts";

/** What `--reset-meter-history` found and did. */
export type HistoryReset =
  | { readonly outcome: "forgotten"; readonly path: string }
  | { readonly outcome: "none"; readonly path: string }
  | { readonly outcome: "not_stored" };

/**
 * Deletes the meter's stored filter history from `state_dir/outbox.sqlite`.
 *
 * @throws {OutboxInUseError} while a bridge runs on the same `state_dir`
 * @throws {OutboxStoreError} when the outbox cannot be opened otherwise
 */
export function resetMeterHistory(config: Config, id: MeterId): HistoryReset {
  // Without the durable outbox the history lives in the running bridge only.
  if (!config.outbox.enabled) return { outcome: "not_stored" };
  const path = `${config.state_dir}/${OUTBOX_FILE}`;
  try {
    Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { outcome: "none", path };
    throw error;
  }
  // Opened as it is: checking it against its record and moving a damaged one aside is the
  // bridge's job at its start, where the finding is reported.
  const store = new SqliteOutboxStore(path);
  try {
    if (!store.meterStates().has(id)) return { outcome: "none", path };
    store.write({
      append: [],
      remove: [],
      meterStates: new Map([[id, undefined]]),
      now: Date.now(),
    });
    return { outcome: "forgotten", path };
  } finally {
    store.close();
  }
}
