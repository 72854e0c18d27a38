/**
 * Fakes for the proxy's parts: a central broker port that records what is
 * published, and a logger that records its lines.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { CentralMessage } from "../../src/protocol/central_message.ts";
import type { CentralPort, PublishOptions } from "../../src/proxy/central_port.ts";

/** A publication the fake central broker received. */
export interface Published {
  topic: string;
  payload: string;
  options: PublishOptions;
}

/** A central port whose connection is switched by the test; publications succeed at once. */
export function fakeCentral(connected = true): CentralPort & {
  published: Published[];
  up: boolean;
  failWith?: Error;
} {
  const fake = {
    published: [] as Published[],
    up: connected,
    failWith: undefined as Error | undefined,
    connected: () => fake.up,
    publish(
      { topic, payload }: CentralMessage,
      options: PublishOptions,
      done?: (error?: Error) => void,
    ): void {
      fake.published.push({ topic, payload, options });
      done?.(fake.failWith);
    },
  };
  return fake;
}

/** A log line: level, message template, properties. */
export type LogLine = [level: string, message: string, properties: unknown];

/** A logger that records its lines. */
export function fakeLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, properties?: unknown) =>
    lines.push([level, message, properties]);
  const log = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  } as unknown as Logger;
  return { log, lines };
}
