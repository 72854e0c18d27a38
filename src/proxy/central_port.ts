/**
 * The proxy's view of the central broker, as its parts use it: whether it
 * is connected, and publishing. The real one is the central
 * {@link BrokerConnection}; tests pass a fake.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { CentralMessage } from "../protocol/central_message.ts";

/** Options of one publication. */
export interface PublishOptions {
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/** Publishing on the central broker. */
export interface CentralPort {
  /** Whether the connection is up. */
  connected(): boolean;
  /** Publishes; `done` is called once the broker acknowledged (QoS 1) or it failed. */
  publish(message: CentralMessage, options: PublishOptions, done?: (error?: Error) => void): void;
}

/** Milliseconds since the epoch, as `Date.now()`; tests pass a fake clock. */
export type Clock = () => number;

/**
 * Publishes bridge state directly (not through the outbox) when connected:
 * it is sent again on every reconnect, so a publication while disconnected
 * is skipped, and a failed one is only logged.
 */
export function publishDirect(
  central: CentralPort,
  log: Logger,
  message: CentralMessage,
  retain: boolean,
): void {
  if (!central.connected()) return;
  central.publish(message, { qos: 1, retain }, (error) => {
    if (error) {
      log.warn("Publishing {topic} failed: {error}", {
        topic: message.topic,
        error: error.message,
      });
    }
  });
}
