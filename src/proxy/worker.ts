/**
 * Entry point of the proxy worker. Runs with network access to the two
 * brokers and read/write access to `state_dir` (its outbox) only: no other
 * files, no subprocesses, no environment, no FFI.
 *
 * @module
 */
import "../runtime/empty_process_env.ts";
import { runWorker } from "../worker/worker_runtime.ts";
import { Proxy } from "./proxy.ts";

runWorker(
  "proxy",
  (config, emit, context) => Promise.resolve(new Proxy(config, emit, context)),
);
