/**
 * Gives npm libraries in a restricted worker an empty `process.env`.
 *
 * mqtt.js pulls in `debug` and `readable-stream`, which read environment
 * variables at load time (`debug` enumerates all of them). A worker needs no
 * variable at all, so instead of granting env access it gets an empty
 * environment. Must be imported before any npm module.
 *
 * @module
 */
import process from "node:process";

Object.defineProperty(process, "env", { value: {}, configurable: true, writable: false });
