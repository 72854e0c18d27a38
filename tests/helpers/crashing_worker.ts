/** A supervised worker whose service crashes shortly after it starts. */
import { runWorker } from "../../src/worker/worker_runtime.ts";

runWorker("crashing", () => {
  setTimeout(() => {
    throw new Error("simulated crash");
  }, 50);
  return Promise.resolve({ stop: () => Promise.resolve() });
});
