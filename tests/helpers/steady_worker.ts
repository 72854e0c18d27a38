/** A supervised worker that runs until asked to stop. */
import { runWorker } from "../../src/supervisor/worker_runtime.ts";

runWorker("steady", () => Promise.resolve({ stop: () => Promise.resolve() }));
