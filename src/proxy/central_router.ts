/**
 * Hands each message from the central broker to the part it is for, by
 * what {@link parseCentralTopic} makes of its topic.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { parseCentralTopic } from "../protocol/central_topic.ts";

/** Where central messages go. */
export interface CentralHandlers {
  /** An event on a cluster inbox; returns whether it was this worker's. */
  cluster(topic: string, payload: Uint8Array): boolean;
  /** A meter's announcement, retained or new, or its clearing. */
  announcement(topic: string, payload: Uint8Array): void;
  /** A bridge API request (not retained). */
  request(topic: string, payload: Uint8Array): void;
  /** A relay switch command (not retained). */
  relaySet(topic: string, payload: Uint8Array): void;
  /** Home Assistant announced it is online. */
  homeAssistantOnline(): void;
  /** A Home Assistant discovery configuration. */
  discoveryConfig(topic: string, payload: Uint8Array): void;
}

/** What routing depends on in the configuration. */
export interface RouteSettings {
  readonly root: string;
  readonly homeAssistant: { readonly enabled: boolean; readonly status_topic: string };
}

/** A message from the central broker. */
export interface CentralMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retained: boolean;
}

/** Routes one central message. */
export function routeCentralMessage(
  settings: RouteSettings,
  handlers: CentralHandlers,
  message: CentralMessage,
  log: Logger,
): void {
  const { topic, payload, retained } = message;
  const { homeAssistant } = settings;
  const parsed = parseCentralTopic(settings.root, topic, homeAssistant.status_topic);
  switch (parsed.kind) {
    case "cluster":
      if (handlers.cluster(topic, payload)) return;
      break;
    case "announcement":
      handlers.announcement(topic, payload);
      return;
    case "request":
      if (!retained) handlers.request(topic, payload);
      return;
    case "relay_set":
      // A retained switch command would switch the relay again at every restart.
      if (retained) {
        log.warn("Ignoring a retained {topic}: publish relay commands without retain", { topic });
      } else {
        handlers.relaySet(topic, payload);
      }
      return;
    case "home_assistant_status":
      if (new TextDecoder().decode(payload).trim() === "online" && homeAssistant.enabled) {
        log.info("Home Assistant is online; publishing discovery again");
        handlers.homeAssistantOnline();
      }
      return;
  }
  if (homeAssistant.enabled) handlers.discoveryConfig(topic, payload);
}
