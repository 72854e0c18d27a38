/** A real MQTT test client that records what it receives. */
import mqtt, { type IClientPublishOptions, type MqttClient } from "mqtt";

/** One received message. */
export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/** A connected client with a log of received messages. */
export class TestClient implements AsyncDisposable {
  readonly received: Received[] = [];

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      this.received.push({ topic, payload: payload.toString(), retain: packet.retain });
    });
  }

  /** Connects to a broker URL. */
  static async connect(
    url: string,
    clientId?: string,
    credentials?: { username: string; password: string },
  ): Promise<TestClient> {
    const client = await mqtt.connectAsync(url, {
      clientId: clientId ?? `test-${crypto.randomUUID().slice(0, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...credentials,
    });
    return new TestClient(client);
  }

  /** Subscribes with QoS 1 and waits for the SUBACK. */
  async subscribe(filter: string | string[]): Promise<void> {
    await this.client.subscribeAsync(filter, { qos: 1 });
  }

  /** Publishes and waits for the PUBACK (QoS 1 by default). */
  async publish(
    topic: string,
    payload: string | Uint8Array,
    options: IClientPublishOptions = { qos: 1 },
  ): Promise<void> {
    await this.client.publishAsync(topic, payload as string, options);
  }

  /** Messages received on a topic, in order. */
  on(topic: string): Received[] {
    return this.received.filter((m) => m.topic === topic);
  }

  /** The first message received on a topic; throws when none arrived. */
  first(topic: string): Received {
    const [message] = this.on(topic);
    if (message === undefined) throw new Error(`no message received on ${topic}`);
    return message;
  }

  /** Waits until `predicate` holds over the received messages. */
  async waitFor(
    predicate: (received: Received[]) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; received:\n${
            this.received.map((m) => `${m.topic} ${m.payload}`).join("\n")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.endAsync();
  }
}
