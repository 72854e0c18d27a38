/**
 * Entry point of the proxy worker. Runs with network access to the two
 * brokers only: no files, no subprocesses, no environment, no FFI.
 *
 * @module
 */
import "../runtime/empty_process_env.ts";
import { runWorker } from "../supervisor/worker_runtime.ts";
import { Proxy } from "./proxy.ts";

runWorker(
  "proxy",
  (config, emit, context) => Promise.resolve(new Proxy(config, emit, context)),
);
