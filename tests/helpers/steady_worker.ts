/** A supervised worker that runs until asked to stop. */
import { runWorker } from "../../src/worker/worker_runtime.ts";

runWorker("steady", () => Promise.resolve({ stop: () => Promise.resolve() }));
