/**
 * The outbox store the configuration asks for.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { MemoryOutboxStore } from "./memory_outbox_store.ts";
import type { OutboxStore } from "./outbox_store.ts";
import { SqliteOutboxStore } from "./sqlite_outbox_store.ts";

/** `state_dir/outbox.sqlite`, or memory only with `outbox.enabled: false`. */
export function openOutboxStore(config: Config): OutboxStore {
  if (!config.outbox.enabled) return new MemoryOutboxStore();
  Deno.mkdirSync(config.state_dir, { recursive: true });
  return new SqliteOutboxStore(`${config.state_dir}/outbox.sqlite`);
}
