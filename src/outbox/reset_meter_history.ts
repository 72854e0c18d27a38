/**
 * `--reset-meter-history`: forgets one meter's stored filter history while
 * the bridge is stopped, for a meter replaced under the same id. Its next
 * readings are then taken as they come, as from a new meter.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import { openOutboxStore } from "./open_outbox_store.ts";
import { OutboxStoreError } from "./sqlite_outbox_store.ts";

/** What `--reset-meter-history` found and did. */
export type HistoryReset =
  | { readonly outcome: "forgotten"; readonly path: string }
  | { readonly outcome: "none"; readonly path: string }
  | { readonly outcome: "not_stored" };

/**
 * Deletes the meter's stored filter history from `state_dir/outbox.sqlite`.
 *
 * @throws {OutboxStoreError} when the outbox cannot be opened, e.g. because
 * the bridge runs (the message says to stop it or use the bridge API)
 */
export function resetMeterHistory(config: Config, id: MeterId): HistoryReset {
  // Without the durable outbox the history lives in the running bridge only.
  if (!config.outbox.enabled) return { outcome: "not_stored" };
  const path = `${config.state_dir}/outbox.sqlite`;
  try {
    Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { outcome: "none", path };
    throw error;
  }
  let store;
  try {
    store = openOutboxStore(config);
  } catch (error) {
    if (!(error instanceof OutboxStoreError)) throw error;
    throw new OutboxStoreError(
      `${error.message}. Stop the bridge first, or while it runs publish {"id":"${id}"} to ` +
        `${config.topics.root}/bridge/request/meter/reset_history`,
      { cause: error },
    );
  }
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
