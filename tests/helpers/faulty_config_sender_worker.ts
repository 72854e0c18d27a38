/**
 * The real config sender with an injected fault: the worker crashes (an
 * uncaught error) when it receives a clock-drift report.
 */
import "../../src/runtime/empty_process_env.ts";
import { ConfigSender } from "../../src/config_sender/config_sender.ts";
import { runWorker } from "../../src/worker/worker_runtime.ts";

runWorker("config_sender", async (config) => {
  const sender = new ConfigSender(config);
  await sender.ready();
  return {
    stop: (timeoutMs) => sender.stop(timeoutMs),
    reconfigure: (next) => sender.reconfigure(next),
    onEvent: (event) => {
      if (event.type !== "clock_drift") return sender.onEvent(event);
      setTimeout(() => {
        throw new Error(`injected fault on clock drift of ${event.id}`);
      });
    },
  };
});
