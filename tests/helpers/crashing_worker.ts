/** A supervised worker whose service crashes shortly after it starts. */
import { runWorker } from "../../src/supervisor/worker_runtime.ts";

runWorker("crashing", () => {
  setTimeout(() => {
    throw new Error("simulated crash");
  }, 50);
  return Promise.resolve({ stop: () => Promise.resolve() });
});
