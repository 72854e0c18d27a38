/**
 * The MQTT broker Home Assistant uses, as the Supervisor's services API names
 * it to add-ons that declare `services: [mqtt:want]`: usually the Mosquitto
 * broker add-on, with an account the Supervisor made for this add-on.
 *
 * @module
 */
import { z } from "zod";

/** What `GET /services/mqtt` answers in `data`. */
export const MqttService = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  username: z.string().optional(),
  password: z.string().optional(),
  ssl: z.boolean().default(false),
});
/** The broker the Supervisor names. */
export type MqttService = z.infer<typeof MqttService>;

/** The Supervisor's answer envelope: `{ result: "ok", data }` or `{ result: "error", message }`. */
const Envelope = z.object({
  result: z.enum(["ok", "error"]),
  message: z.string().optional(),
  data: z.unknown().optional(),
});

/** The Supervisor could not be asked, or refused, or answered something unusable. */
export class MqttServiceError extends Error {
  override readonly name: string = "MqttServiceError";

  /** `retryable`: the Supervisor could not be reached (its API may still be starting). */
  constructor(message: string, readonly retryable = false) {
    super(message);
  }
}

/** What there is to know about Home Assistant's broker. */
export type MqttServiceLookup =
  | { readonly available: true; readonly service: MqttService }
  /** No add-on provides MQTT (the Mosquitto broker add-on is not installed or not started). */
  | { readonly available: false; readonly reason: string };

/**
 * Asks the Supervisor at `supervisorUrl` (`http://supervisor` inside an
 * add-on) for the MQTT service, authenticated with the add-on's `token`
 * (`SUPERVISOR_TOKEN`).
 *
 * @throws {MqttServiceError} when the Supervisor cannot be reached, refuses the
 *   token, or answers something that is not a broker
 */
export async function lookUpMqttService(
  supervisorUrl: string,
  token: string,
  timeoutMs = 10_000,
): Promise<MqttServiceLookup> {
  const url = new URL(
    "services/mqtt",
    supervisorUrl.endsWith("/") ? supervisorUrl : `${supervisorUrl}/`,
  );
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new MqttServiceError(
      `cannot reach the Supervisor at ${url}: ${(error as Error).message}`,
      true,
    );
  }
  const text = await response.text();
  if (response.status === 401 || response.status === 403) {
    throw new MqttServiceError(
      `the Supervisor refused the add-on's token for ${url} (HTTP ${response.status}); ` +
        "restart the add-on, and reinstall it if that does not help",
    );
  }
  let envelope: z.infer<typeof Envelope>;
  try {
    envelope = Envelope.parse(JSON.parse(text));
  } catch {
    throw new MqttServiceError(
      `the Supervisor answered ${url} with HTTP ${response.status} and no service: ${
        text.slice(0, 200)
      }`,
    );
  }
  if (envelope.result === "error") {
    return { available: false, reason: envelope.message ?? `HTTP ${response.status}` };
  }
  const service = MqttService.safeParse(envelope.data);
  if (!service.success) {
    throw new MqttServiceError(
      `the Supervisor's MQTT service is not a broker: ${service.error.issues[0]?.message}`,
    );
  }
  return { available: true, service: service.data };
}
