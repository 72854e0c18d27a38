/**
 * Answers the bridge API (`<root>/bridge/request/<action>`) and the relay
 * switch (`<root>/<id>/relay/set`). Requests that need a meter command go to
 * the config sender, `config/reload` to the supervisor; each is answered once,
 * with an error if nobody answers in time. `health` and `outbox/acknowledge`
 * are answered by the proxy at once.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import { meterSettings } from "../config/meter_settings.ts";
import {
  type ApiRequest,
  type ApiResponse,
  errorResponse,
  isRejected,
  type MeterCommandRequest,
  okResponse,
  parseRequest,
  responseTopic,
  type Transaction,
} from "../protocol/bridge_api.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { RelayState } from "../protocol/meter_status.ts";
import { meterTopic } from "../protocol/topics.ts";
import type { BridgeEvent, RequestResult } from "../supervisor/messages.ts";

/** What the handler needs from the proxy. */
export interface RequestContext {
  config(): Config;
  /** Whether the meter is announced on this bridge. */
  known(id: MeterId): boolean;
  /** Data of the `health` response. */
  health(): Record<string, unknown>;
  /** Sends an event to the other workers or the supervisor. */
  emit(event: BridgeEvent): void;
  /** Publishes a response (not retained). */
  publish(topic: string, payload: string): void;
  /**
   * Forgets a meter's filter history (a meter replaced under the same id);
   * the `data` of the answer.
   */
  resetHistory(id: MeterId): Record<string, unknown>;
  /** The meter acknowledged a relay switch: its new state. */
  relaySwitched(id: MeterId, state: RelayState): void;
  /** `outbox/acknowledge`: clears the outbox problem; returns it, if there was one. */
  acknowledgeOutboxProblem(): OutboxProblem | undefined;
  /** Called with the outcome of each request, for logs and counters. */
  outcome(kind: string, response: ApiResponse): void;
}

interface Waiting {
  readonly topic: string;
  readonly kind: string;
  readonly transaction: Transaction | undefined;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Relay requests also publish the new state. */
  readonly relay?: MeterId;
}

/** At most this many requests wait for an answer; more get an error at once. */
const MAX_WAITING = 1000;

/** Bridge API and relay switch requests of the proxy. */
export class RequestHandler {
  readonly #waiting = new Map<string, Waiting>();
  #next = 0;
  /** Keeps request ids apart across replicas, whose results all proxies receive. */
  readonly #prefix = crypto.randomUUID().slice(0, 8);

  constructor(readonly context: RequestContext) {}

  /** Requests waiting for another worker. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** A message on `<root>/bridge/request/#`. */
  onRequest(topic: string, payload: Uint8Array): void {
    const { root } = this.context.config().topics;
    const parsed = parseRequest(root, topic, payload);
    if (isRejected(parsed)) {
      this.#respond(responseTopic(root, parsed.action), parsed.action, parsed.response);
      return;
    }
    const topicOut = responseTopic(root, parsed.action);
    const { transaction } = parsed;
    switch (parsed.action) {
      case "health":
        this.#respond(topicOut, parsed.action, okResponse(this.context.health(), transaction));
        return;
      case "config/reload": {
        const request = this.#wait(topicOut, parsed.action, transaction);
        if (request !== undefined) this.context.emit({ type: "reload_request", request });
        return;
      }
      case "meter/reset_history":
        this.#respond(
          topicOut,
          parsed.action,
          okResponse(this.context.resetHistory(parsed.id), transaction),
        );
        return;
      case "outbox/acknowledge": {
        const acknowledged = this.context.acknowledgeOutboxProblem() ?? null;
        this.#respond(topicOut, parsed.action, okResponse({ acknowledged }, transaction));
        return;
      }
      default: {
        const error = this.#meterError(parsed.id);
        if (error !== undefined) {
          this.#respond(topicOut, parsed.action, errorResponse(error, transaction));
          return;
        }
        this.#command(topicOut, parsed.action, transaction, commandOf(parsed));
      }
    }
  }

  /** A message on `<root>/<id>/relay/set`: `ON` or `OFF`. */
  onRelaySet(topic: string, payload: Uint8Array): void {
    const { root } = this.context.config().topics;
    const id = topic.slice(root.length + 1, -"/relay/set".length);
    if (!isMeterId(id)) return;
    const resultTopic = meterTopic(root, id, "relay/result");
    const text = new TextDecoder().decode(payload.subarray(0, 16)).trim().toUpperCase();
    const state = RelayState.safeParse(text);
    if (!state.success) {
      this.#respond(resultTopic, "relay", errorResponse('send "ON" or "OFF"'));
      return;
    }
    const error = this.#meterError(id) ??
      (meterSettings(this.context.config().meters, id).relayControl
        ? undefined
        : `relay control of ${id} is off: add it to meters.relay_control in config.yaml`);
    if (error !== undefined) {
      this.#respond(resultTopic, "relay", errorResponse(error));
      return;
    }
    this.#command(
      resultTopic,
      "relay",
      undefined,
      { action: "relay", id, on: state.data === "ON" },
      id,
    );
  }

  /** A result from the config sender or the supervisor. */
  onEvent(event: BridgeEvent): void {
    if (event.type !== "command_result" && event.type !== "reload_result") return;
    const waiting = this.#waiting.get(event.request);
    if (waiting === undefined) return;
    this.#waiting.delete(event.request);
    clearTimeout(waiting.timer);
    const result: RequestResult = event.result;
    if (result.ok && waiting.relay !== undefined) {
      const state = RelayState.safeParse(result.data.state);
      if (state.success) this.context.relaySwitched(waiting.relay, state.data);
    }
    this.#respond(
      waiting.topic,
      waiting.kind,
      result.ok
        ? okResponse(result.data, waiting.transaction)
        : errorResponse(result.error, waiting.transaction),
    );
  }

  /** Answers every waiting request with an error (the bridge is stopping). */
  close(): void {
    for (const [request, waiting] of this.#waiting) {
      clearTimeout(waiting.timer);
      this.#waiting.delete(request);
      this.#respond(
        waiting.topic,
        waiting.kind,
        errorResponse("the bridge is stopping", waiting.transaction),
      );
    }
  }

  #meterError(id: MeterId): string | undefined {
    if (!this.context.known(id)) return `meter ${id} is not known to this bridge`;
    if (this.context.config().meters.exclude.includes(id)) {
      return `meter ${id} is excluded (meters.exclude)`;
    }
    return undefined;
  }

  #command(
    topic: string,
    kind: string,
    transaction: Transaction | undefined,
    command: MeterCommandRequest,
    relay?: MeterId,
  ): void {
    const request = this.#wait(topic, kind, transaction, relay);
    if (request !== undefined) this.context.emit({ type: "command_request", request, command });
  }

  /** Registers a request that another worker answers; `undefined` if too many wait. */
  #wait(
    topic: string,
    kind: string,
    transaction: Transaction | undefined,
    relay?: MeterId,
  ): string | undefined {
    if (this.#waiting.size >= MAX_WAITING) {
      this.#respond(
        topic,
        kind,
        errorResponse(`${MAX_WAITING} requests are in progress; try again later`, transaction),
      );
      return undefined;
    }
    const request = `${this.#prefix}-r${++this.#next}`;
    const { meters } = this.context.config();
    // Every attempt may take the full timeout, with retry pauses between; then some slack.
    const timeoutMs = (meters.ack_timeout_seconds * 2 * (meters.command_retries + 1) + 30) * 1000;
    const timer = setTimeout(() => {
      this.#waiting.delete(request);
      this.#respond(
        topic,
        kind,
        errorResponse(`no answer within ${timeoutMs / 1000} s`, transaction),
      );
    }, timeoutMs);
    this.#waiting.set(request, { topic, kind, transaction, timer, relay });
    return request;
  }

  #respond(topic: string, kind: string, response: ApiResponse): void {
    this.context.publish(topic, JSON.stringify(response));
    this.context.outcome(kind, response);
  }
}

function commandOf(
  request: Exclude<
    ApiRequest,
    { action: "health" | "config/reload" | "outbox/acknowledge" | "meter/reset_history" }
  >,
): MeterCommandRequest {
  switch (request.action) {
    case "meter/sync_time":
      return { action: "sync_time", id: request.id };
    case "meter/read_interval":
      return { action: "read_interval", id: request.id };
    case "meter/set_interval":
      return {
        action: "set_interval",
        id: request.id,
        seconds: request.seconds,
        minutes: request.minutes,
      };
  }
}
