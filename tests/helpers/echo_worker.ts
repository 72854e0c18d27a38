/**
 * A supervised worker that reports each event it receives back to the
 * supervisor as a `reload_request` named `<worker>:<event type>` (that type
 * goes to no worker, so only the supervisor's observer sees it).
 */
import { runWorker } from "../../src/worker/worker_runtime.ts";

declare const self: { name: string };

runWorker("echo", (_config, emit) =>
  Promise.resolve({
    stop: () => Promise.resolve(),
    onEvent: (event) => emit({ type: "reload_request", request: `${self.name}:${event.type}` }),
  }));
