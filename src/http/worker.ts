/**
 * Entry point of the HTTP worker. Runs with permission to listen on
 * `http.host`:`http.port` only: no files, no subprocesses, no environment,
 * no outgoing connections.
 *
 * @module
 */
import "../runtime/empty_process_env.ts";
import { runWorker } from "../worker/worker_runtime.ts";
import { HttpServer } from "./http_server.ts";

runWorker(
  "http",
  (config, _emit, context) =>
    HttpServer.start(config, { snapshots: !context.remote.includes("proxy") }),
);
