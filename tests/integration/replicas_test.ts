/**
 * Three replicas sharing the meters, as in a cluster: three real bridges run
 * only their proxy (`--workers proxy`) with `cluster.share_group`, a fourth
 * process runs only the configuration flow (`--workers config_sender`), and
 * a simulated fleet sends real-world traffic (every reading twice, all-zero
 * bursts). Mosquitto's shared subscriptions are round robin, so a router
 * simulates the sticky strategy of a clustered broker (EMQX `hash_clientid`):
 * each meter goes to one replica, and changing the members moves meters
 * while the replicas keep running.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedFleet } from "../../src/simulator/simulated_fleet.ts";
import { type BridgeProcess, startBridge, TASK_START } from "../helpers/bridge.ts";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { type Received, TestClient } from "../helpers/mqtt_client.ts";
import { StickyShareRouter } from "../helpers/sticky_share_router.ts";
import { sleep, until } from "../helpers/wait.ts";

/** The id of meter `i` of the fleet. */
const meterId = (i: number) => `33B00000${String(77000 + i)}` as MeterId;
const METERS = Array.from({ length: 30 }, (_, i) => meterId(i));
const REPLICAS = ["r1", "r2", "r3"];
/** Offline after 4 s without a reading; meters report every second. */
const AVAILABILITY_TIMEOUT_S = 4;

function config(internal: string, central: string, cluster: string): string {
  return `internal_broker: { url: "${internal}", client_id: it-cluster }
central_broker: { url: "${central}", client_id: it-cluster }
meters:
  timezone: UTC
  upload_interval_seconds: 30
  upload_interval_minutes: 1
  ack_timeout_seconds: 2
  availability_timeout_seconds: ${AVAILABILITY_TIMEOUT_S}
  status_interval_seconds: 1
  relay_control: [${meterId(5)}]
logging: { format: json, level: info, stats_interval_seconds: 0 }
cluster: ${cluster}
`;
}

const withWorkers = (workers: string) => ({
  ...TASK_START,
  args: [...TASK_START.args, "--workers", workers],
});

/** Readings on central by meter and level, parsed, in arrival order. */
function readings(received: readonly Received[], level: "seconds" | "minutes") {
  const byMeter = new Map<string, Record<string, unknown>[]>();
  for (const m of received) {
    const [, id, readingLevel] = /^kpm33b\/([0-9A-Z]{13})\/(seconds|minutes)$/.exec(m.topic) ?? [];
    if (id === undefined || readingLevel !== level) continue;
    byMeter.set(id, [...byMeter.get(id) ?? [], JSON.parse(m.payload)]);
  }
  return byMeter;
}

/** Meters the router moved, and how many messages central had received when it did. */
interface Move {
  readonly ids: ReadonlySet<string>;
  readonly from: number;
}

/**
 * Checks what every consumer relies on, over everything central received so
 * far. A move may repeat one reading per moved meter: the meter's two copies
 * of a reading can reach the old replica and the new one, which starts the
 * meter's history afresh (docs/scaling.md, "What a move costs").
 */
function assertClean(received: readonly Received[], moves: readonly Move[] = []): void {
  for (const [id, series] of readings(received, "seconds")) {
    assert.ok(series.every((r) => r.active_power !== 0), `a zero burst of ${id} leaked`);
  }
  for (const [id, series] of readings(received, "minutes")) {
    assert.ok(series.every((r) => r.active_energy !== 0), `a zero burst of ${id} leaked`);
    const energies = series.map((r) => r.active_energy as number);
    assert.ok(
      energies.every((e, i) => e >= (energies[i - 1] ?? -Infinity)),
      `energy of ${id} went backwards: ${energies}`,
    );
  }
  const copies = new Set<string>();
  const repeatedAtMove = new Set<string>();
  received.forEach((m, index) => {
    const [, id] = /^kpm33b\/([0-9A-Z]{13})\/(seconds|minutes)$/.exec(m.topic) ?? [];
    if (id === undefined) return;
    const key = `${m.topic} ${m.payload}`;
    if (copies.has(key)) {
      const move = moves.findLastIndex((m) => m.ids.has(id) && index >= m.from);
      const allowance = `${move} ${id}`;
      assert.ok(move >= 0 && !repeatedAtMove.has(allowance), `duplicate on central: ${key}`);
      repeatedAtMove.add(allowance);
    }
    copies.add(key);
  });
  const offline = received.filter((m) =>
    m.topic.endsWith("/availability") && m.payload !== "online"
  );
  assert.deepEqual(offline.map((m) => m.topic), [], "a meter went offline while reporting");
}

/** The replica each meter's latest announcement names. */
function owners(received: readonly Received[]): Map<string, string> {
  const owner = new Map<string, string>();
  for (const m of received) {
    if (!m.topic.startsWith("kpm33b/discovery/") || m.payload === "") continue;
    const announcement = JSON.parse(m.payload);
    owner.set(announcement.id, announcement.bridge);
  }
  return owner;
}

Deno.test("3 replicas with sticky routing: filters, availability, announcements and configuration stay per meter, also when meters move", async () => {
  await using ingress = await startMosquitto();
  await using central = await startMosquitto();
  const nodes: Mosquitto[] = [];
  for (const _ of REPLICAS) nodes.push(await startMosquitto());
  await using router = await StickyShareRouter.start(ingress.url, nodes.map((n) => n.url));
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe(["kpm33b/#", "homeassistant/#"]);
  const bridges: BridgeProcess[] = [];
  let fleet: SimulatedFleet | undefined;
  try {
    bridges.push(
      ...await Promise.all(nodes.map((node, i) =>
        startBridge(
          config(node.url, central.url, `{ share_group: it, replica: ${REPLICAS[i]} }`),
          {},
          withWorkers("proxy"),
        )
      )),
      await startBridge(
        config(ingress.url, central.url, "{ replica: config }"),
        {},
        withWorkers("config_sender"),
      ),
    );
    await consumer.waitFor(
      (r) =>
        REPLICAS.every((replica) =>
          r.some((m) =>
            m.topic === `kpm33b/bridge/replicas/${replica}/state` && m.payload === "online"
          )
        ),
      "every replica online",
      60_000,
    );
    fleet = await SimulatedFleet.start({
      url: ingress.url,
      ids: METERS,
      timeZone: "UTC",
      timeScale: 30,
      // Reporting every second from the start, so no meter is silent past the timeout.
      secondsInterval: 30,
      minutesInterval: 1,
      duplicates: true,
      zeroBursts: true,
      metersPerConnection: 10,
      appearWithinMs: 1000,
    });
    const running = fleet;
    await until(
      () => running.configuredAt.size === METERS.length,
      "every meter configured",
      30_000,
    );
    await until(() => owners(consumer.received).size === METERS.length, "every meter announced");
    // Each meter is announced by the replica the broker routes it to, once.
    const announced = owners(consumer.received);
    for (const id of METERS) assert.equal(announced.get(id), REPLICAS[router.memberOf(id)], id);
    const announcements = consumer.received.filter((m) => m.topic.startsWith("kpm33b/discovery/"));
    assert.equal(announcements.length, METERS.length, "one announcement per meter");
    assert.equal(consumer.on("kpm33b/bridge/state").length, 0, "replicas have their own state");

    // A request taken by one replica is carried out by the configuration process.
    await consumer.publish(
      "kpm33b/bridge/request/meter/read_interval",
      JSON.stringify({ id: meterId(3), transaction: "t1" }),
    );
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/response/meter/read_interval"),
      "the read_interval response",
      20_000,
    );
    // No second replica answers late.
    await sleep(500);
    const responses = consumer.on("kpm33b/bridge/response/meter/read_interval");
    assert.equal(responses.length, 1, "one replica answered");
    assert.deepEqual(JSON.parse(responses[0]!.payload), {
      status: "ok",
      data: { id: meterId(3), seconds: 30, minutes: 1 },
      transaction: "t1",
    });

    // Relay switches, one to each replica (Mosquitto shares the relay topic round robin): the
    // replicas that do not handle the meter must not start reporting it.
    // One after the other: requests taken by different replicas may reach the configuration
    // flow in another order, and one identical to the latest in progress would share its command.
    for (const [i, state] of ["ON", "OFF", "ON"].entries()) {
      await consumer.publish(`kpm33b/${meterId(5)}/relay/set`, state);
      await consumer.waitFor(
        (r) => r.filter((m) => m.topic === `kpm33b/${meterId(5)}/relay/result`).length === i + 1,
        `relay result ${i + 1}`,
        20_000,
      );
    }
    assert.ok(
      consumer.on(`kpm33b/${meterId(5)}/relay/result`).every((m) =>
        JSON.parse(m.payload).status === "ok"
      ),
    );
    // Past the availability timeout: no meter goes offline.
    await sleep((AVAILABILITY_TIMEOUT_S + 2) * 1000);
    assertClean(consumer.received);

    // Scale down, then up again: meters move between running replicas.
    const moves: Move[] = [];
    for (const members of [[0, 1], [0, 1, 2]]) {
      const before = owners(consumer.received);
      const from = consumer.received.length;
      router.setMembers(members);
      const moved = METERS.filter((id) => before.get(id) !== REPLICAS[router.memberOf(id)]);
      assert.ok(moved.length > 0, `no meter moved to ${members}`);
      moves.push({ ids: new Set(moved), from });
      await until(
        () =>
          moved.every((id) => owners(consumer.received).get(id) === REPLICAS[router.memberOf(id)]),
        `the moved meters claimed by their new replicas (${moved.length})`,
        20_000,
      );
      // Past the old owners' availability timeout: none of them may report a moved meter offline.
      await sleep((AVAILABILITY_TIMEOUT_S + 2) * 1000);
      assertClean(consumer.received, moves);
      // Home Assistant follows the replica that handles the meter now.
      const [id] = moved;
      assert.ok(id !== undefined);
      const config = consumer.received.filter((m) =>
        m.topic === `homeassistant/sensor/kpm33b_${id}/power/config`
      ).at(-1);
      const owner = REPLICAS[router.memberOf(id)];
      assert.equal(
        JSON.parse(config!.payload).availability[0].topic,
        `kpm33b/bridge/replicas/${owner}/state`,
      );
      // …and shows the meter connected through that replica's bridge device.
      assert.equal(JSON.parse(config!.payload).device.via_device, `kpm33b_bridge_${owner}`);
      const bridgeDevice = consumer.received.find((m) =>
        m.topic === `homeassistant/sensor/kpm33b_bridge_${owner}/meters_online/config`
      );
      assert.equal(
        JSON.parse(bridgeDevice!.payload).state_topic,
        `kpm33b/bridge/replicas/${owner}/info`,
      );
    }
    // Configuration went out once per meter (a move is not a new meter), plus the two reads and
    // the three relay switches.
    assert.equal(running.commands, 3 * METERS.length + 2 + 3);

    // An older claim showing up (delayed in an outbox, retained from before) is answered by the
    // replica that handles the meter: its own claim is retained again, nobody hands over.
    const target = meterId(11);
    const current = consumer.received.filter((m) => m.topic === `kpm33b/discovery/${target}`).at(
      -1,
    )!;
    const claim = JSON.parse(current.payload);
    await consumer.publish(
      `kpm33b/discovery/${target}`,
      JSON.stringify({ ...claim, bridge: "r0", claim: claim.claim }),
      { qos: 1, retain: true },
    );
    await consumer.waitFor(
      (r) =>
        r.filter((m) => m.topic === `kpm33b/discovery/${target}`).at(-1)?.payload ===
          current.payload,
      "the owner's claim retained again",
    );
    // Past the availability timeout: the older claim hands nothing over.
    await sleep((AVAILABILITY_TIMEOUT_S + 2) * 1000);
    assert.equal(owners(consumer.received).get(target), claim.bridge);
    assertClean(consumer.received, moves);
  } finally {
    await fleet?.stop();
    await Promise.all(bridges.map((bridge) => bridge[Symbol.asyncDispose]()));
    await Promise.all(nodes.map((node) => node.stop()));
  }
});
