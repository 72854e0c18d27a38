/**
 * Entry point of the config-sender worker. Runs with network access to the
 * two brokers and read/write access to `state_dir` only.
 *
 * @module
 */
import "../runtime/empty_process_env.ts";
import { runWorker } from "../worker/worker_runtime.ts";
import { ConfigSender } from "./config_sender.ts";

runWorker("config_sender", async (config, emit, context) => {
  const sender = new ConfigSender(config, {}, emit, context);
  await sender.ready();
  return sender;
});
