/**
 * Answers the bridge API (`<root>/bridge/request/<action>`) and the relay
 * switch (`<root>/<id>/relay/set`). Requests that need a meter command go to
 * the config sender, `config/reload` to the supervisor; each is answered once,
 * with an error if nobody answers in time. `health` and `outbox/acknowledge`
 * are answered by the proxy at once.
 *
 * A meter command request carries the time it expires: the configuration
 * flow answers it by then, sent or not, and never sends it later. Only if
 * the configuration flow does not answer at all (not running) does this
 * handler answer on its own, a little later.
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
  MAX_REQUESTS_PER_METER,
  type MeterCommandRequest,
  okResponse,
  parseRequest,
  requestTimeoutMs,
  type Transaction,
} from "../protocol/bridge_api.ts";
import { parseCentralTopic } from "../protocol/central_topic.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { RelayState } from "../protocol/meter_status.ts";
import { type CentralMessage, centralMessage } from "../protocol/central_message.ts";
import type { BridgeEvent, RequestResult } from "../worker/messages.ts";

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
  publish(message: CentralMessage): void;
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

/** The message that carries an answer to where the request expects it. */
type Answer = (response: ApiResponse) => CentralMessage;

interface Waiting {
  readonly answer: Answer;
  readonly kind: string;
  readonly transaction: Transaction | undefined;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Relay requests also publish the new state. */
  readonly relay?: MeterId;
  /** The meter a command request is for. */
  readonly meter?: MeterId;
}

/** At most this many requests wait for an answer; more get an error at once. */
const MAX_WAITING = 1000;

/** How much longer than a request's own time-out the configuration flow's answer is awaited. */
const ANSWER_GRACE_MS = 10_000;

/** Bridge API and relay switch requests of the proxy. */
export class RequestHandler {
  readonly #waiting = new Map<string, Waiting>();
  /** Command requests waiting, per meter. */
  readonly #perMeter = new Map<MeterId, number>();
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
      this.#respond(apiAnswer(root, parsed.action), parsed.action, parsed.response);
      return;
    }
    const answer = apiAnswer(root, parsed.action);
    const { transaction } = parsed;
    switch (parsed.action) {
      case "health":
        this.#respond(answer, parsed.action, okResponse(this.context.health(), transaction));
        return;
      case "config/reload": {
        const request = this.#wait(answer, parsed.action, transaction);
        if (request !== undefined) this.context.emit({ type: "reload_request", request });
        return;
      }
      case "meter/reset_history":
        this.#respond(
          answer,
          parsed.action,
          okResponse(this.context.resetHistory(parsed.id), transaction),
        );
        return;
      case "outbox/acknowledge": {
        const acknowledged = this.context.acknowledgeOutboxProblem() ?? null;
        this.#respond(answer, parsed.action, okResponse({ acknowledged }, transaction));
        return;
      }
      default: {
        const error = this.#meterError(parsed.id);
        if (error !== undefined) {
          this.#respond(answer, parsed.action, errorResponse(error, transaction));
          return;
        }
        this.#command(answer, parsed.action, transaction, commandOf(parsed));
      }
    }
  }

  /** A message on `<root>/<id>/relay/set`: `ON` or `OFF`. */
  onRelaySet(topic: string, payload: Uint8Array): void {
    const { root } = this.context.config().topics;
    const parsed = parseCentralTopic(root, topic);
    if (parsed.kind !== "relay_set" || !isMeterId(parsed.id)) return;
    const { id } = parsed;
    const answer: Answer = (response) => centralMessage("relay_result", { root, id }, response);
    const text = new TextDecoder().decode(payload.subarray(0, 16)).trim().toUpperCase();
    const state = RelayState.safeParse(text);
    if (!state.success) {
      this.#respond(answer, "relay", errorResponse('send "ON" or "OFF"'));
      return;
    }
    const error = this.#meterError(id) ??
      (meterSettings(this.context.config().meters, id).relayControl
        ? undefined
        : `relay control of ${id} is off: add it to meters.relay_control in config.yaml`);
    if (error !== undefined) {
      this.#respond(answer, "relay", errorResponse(error));
      return;
    }
    this.#command(
      answer,
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
    this.#settle(event.request, waiting);
    const result: RequestResult = event.result;
    if (result.ok && waiting.relay !== undefined) {
      const state = RelayState.safeParse(result.data.state);
      if (state.success) this.context.relaySwitched(waiting.relay, state.data);
    }
    this.#respond(
      waiting.answer,
      waiting.kind,
      result.ok
        ? okResponse(result.data, waiting.transaction)
        : errorResponse(result.error, waiting.transaction),
    );
  }

  /** Answers every waiting request with an error (the bridge is stopping). */
  close(): void {
    for (const [request, waiting] of this.#waiting) {
      this.#settle(request, waiting);
      this.#respond(
        waiting.answer,
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
    answer: Answer,
    kind: string,
    transaction: Transaction | undefined,
    command: MeterCommandRequest,
    relay?: MeterId,
  ): void {
    const id = command.id;
    const pending = this.#perMeter.get(id) ?? 0;
    if (pending >= MAX_REQUESTS_PER_METER) {
      this.#respond(
        answer,
        kind,
        errorResponse(
          `${pending} requests for meter ${id} are in progress; try again once they are answered`,
          transaction,
        ),
      );
      return;
    }
    const { meters } = this.context.config();
    const timeoutMs = requestTimeoutMs(meters.ack_timeout_seconds, meters.command_retries);
    const waitMs = timeoutMs + ANSWER_GRACE_MS;
    const request = this.#wait(answer, kind, transaction, waitMs, { relay, meter: id });
    if (request === undefined) return;
    this.#perMeter.set(id, pending + 1);
    this.context.emit({
      type: "command_request",
      request,
      command,
      expires_at: Date.now() + timeoutMs,
    });
  }

  /**
   * Registers a request that another worker answers within `timeoutMs`;
   * `undefined` if too many wait.
   */
  #wait(
    answer: Answer,
    kind: string,
    transaction: Transaction | undefined,
    timeoutMs = ANSWER_GRACE_MS * 3,
    about: Pick<Waiting, "relay" | "meter"> = {},
  ): string | undefined {
    if (this.#waiting.size >= MAX_WAITING) {
      this.#respond(
        answer,
        kind,
        errorResponse(`${MAX_WAITING} requests are in progress; try again later`, transaction),
      );
      return undefined;
    }
    const request = `${this.#prefix}-r${++this.#next}`;
    const timer = setTimeout(() => {
      this.#settle(request, waiting);
      this.#respond(
        answer,
        kind,
        errorResponse(
          about.meter === undefined
            ? `no answer within ${timeoutMs / 1000} s`
            : `the configuration flow did not answer within ${timeoutMs / 1000} s; ` +
              "is it running (--workers)?",
          transaction,
        ),
      );
    }, timeoutMs);
    const waiting: Waiting = { answer, kind, transaction, timer, ...about };
    this.#waiting.set(request, waiting);
    return request;
  }

  /** Ends the wait for a request's answer. */
  #settle(request: string, waiting: Waiting): void {
    clearTimeout(waiting.timer);
    this.#waiting.delete(request);
    if (waiting.meter === undefined) return;
    const left = (this.#perMeter.get(waiting.meter) ?? 1) - 1;
    if (left > 0) this.#perMeter.set(waiting.meter, left);
    else this.#perMeter.delete(waiting.meter);
  }

  #respond(answer: Answer, kind: string, response: ApiResponse): void {
    this.context.publish(answer(response));
    this.context.outcome(kind, response);
  }
}

/** Answers on `<root>/bridge/response/<action>`. */
function apiAnswer(root: string, action: string): Answer {
  return (response) => centralMessage("api_response", { root, action }, response);
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
