/**
 * A clustered broker's sticky shared subscription, simulated where Mosquitto
 * has only round robin: EMQX's `hash_clientid` strategy sends all of one
 * publisher's messages to the same member of a share group, chosen by a hash
 * over the members; this router does the same by meter id (each meter is its
 * own publisher). It takes the meters' uplink topics from the broker the
 * meters use and hands each message, in order, to the broker of the member
 * the hash picks, where that replica is the only member of its `$share`
 * group. Changing the members moves meters, as a clustered broker does when
 * a replica joins or leaves.
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { digest } from "../../src/runtime/hash.ts";

const UPLINK = ["MQTT_RT_DATA", "MQTT_ENY_NOW", "MQTT_TELEIND"];

/** Routes meters to members by a hash of their id. */
export class StickyShareRouter implements AsyncDisposable {
  /** Indices of the member brokers that take meters now. */
  #members: number[];
  /** Messages handed to each member so far. */
  readonly routed: number[];

  private constructor(readonly ingress: MqttClient, readonly nodes: MqttClient[]) {
    this.#members = nodes.map((_, i) => i);
    this.routed = nodes.map(() => 0);
    ingress.on("message", (topic, payload) => {
      const node = this.memberOf(meterIdOf(payload));
      const client = nodes[node];
      assert.ok(client !== undefined, `member ${node} is one of the ${nodes.length} nodes`);
      this.routed[node] = (this.routed[node] ?? 0) + 1;
      client.publish(topic, payload, { qos: 1 });
    });
  }

  /** Subscribes on `ingressUrl` and connects to every member's broker. */
  static async start(ingressUrl: string, nodeUrls: readonly string[]): Promise<StickyShareRouter> {
    const connect = (url: string, clientId: string) =>
      mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 });
    const nodes = await Promise.all(nodeUrls.map((url, i) => connect(url, `router-node-${i}`)));
    const ingress = await connect(ingressUrl, "router-ingress");
    await ingress.subscribeAsync(UPLINK, { qos: 1 });
    return new StickyShareRouter(ingress, nodes);
  }

  /** The member a meter's messages go to. */
  memberOf(id: string): number {
    const member = this.#members[digest(id) % this.#members.length];
    assert.ok(member !== undefined, "the router has members");
    return member;
  }

  /** Sets the members that take meters (a replica joined or left the group). */
  setMembers(members: readonly number[]): void {
    this.#members = [...members];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.ingress.endAsync(true);
    await Promise.all(this.nodes.map((node) => node.endAsync(true)));
  }
}

function meterIdOf(payload: Uint8Array): string {
  try {
    return String(JSON.parse(new TextDecoder().decode(payload)).id);
  } catch {
    return "";
  }
}
