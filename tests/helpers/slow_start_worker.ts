/**
 * A supervised worker whose service takes 300 ms to start and reports its
 * own stop as a `reload_request` named `service stopped` (that type goes to
 * no worker, so only the supervisor's observer sees it).
 */
import { runWorker } from "../../src/worker/worker_runtime.ts";

runWorker("slow", async (_config, emit) => {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    stop: () => {
      emit({ type: "reload_request", request: "service stopped" });
      return Promise.resolve();
    },
  };
});
