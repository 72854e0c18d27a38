/**
 * Fault injection: the real bridge (subprocess) between two real Mosquitto
 * brokers, while brokers and the bridge are killed and restarted, central is
 * throttled or away long enough to fill the outbox, and hostile payloads
 * arrive. Replays are minutes-level energy readings (distinct per meter and
 * minute, registers strictly increasing), so a consumer on central can tell
 * what was lost, what came twice and whether a meter's readings ever went
 * backwards. Each scenario prints its figures; none asserts on speed.
 *
 * Contract under test (durable outbox): no reading the bridge accepted (acked
 * to the internal broker) is lost; per topic, readings arrive in order (a
 * repeat of the latest is allowed, an older one after a newer one is not);
 * the outbox is bounded by `outbox.max_entries`, dropping the oldest.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { METER_ID_PATTERN } from "../../src/protocol/meter_id.ts";
import { parseMeterTime } from "../../src/protocol/meter_time.ts";
import { MeterStatus, RelayState } from "../../src/protocol/meter_status.ts";
import { BridgeInfo, IoPayload, MeterAnnouncement } from "../../src/protocol/topics.ts";
import { type BridgeProcess, complaints, startBridge } from "../helpers/bridge.ts";
import { type Account, GatedMosquitto } from "../helpers/gated_mosquitto.ts";
import { hostileMessage } from "../helpers/hostile_payloads.ts";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";
import { isRunning, mb, memoryOf } from "../helpers/proc.ts";
import {
  CentralConsumer,
  energyReplay,
  Publisher,
  type Replay,
  waitForProgress,
} from "../helpers/replay.ts";
import { ThrottleProxy } from "../helpers/throttle_proxy.ts";
import { sleep, waitUntil } from "../helpers/wait.ts";

const CONSUMER: Account = { username: "consumer", password: "consumer-secret" };
const BRIDGE: Account = { username: "bridge", password: "bridge-secret" };
/** The bridge's queue on the internal broker holds a whole replay while it is away. */
const INTERNAL = "max_queued_messages 1000000";
/**
 * Central holds a whole replay for a slow consumer, and writes each reading
 * to the consumer at once (no in-flight cap) instead of queueing it in memory,
 * where a killed broker would lose it after acknowledging it to the bridge.
 */
const CENTRAL = "max_queued_messages 1000000\nmax_inflight_messages 0";

/**
 * The bridge's configuration. The drain is unpaced (`drain_rate_per_second: 0`):
 * central's queue holds every replay (`CENTRAL`), these scenarios test what is
 * delivered, not the pace, and at the default 50/s a 20,000-reading backlog
 * would take minutes; fault_drain_test.ts tests the pace.
 */
function bridgeYaml(options: {
  internal: string;
  central: string;
  account?: Account;
  stateDir?: string;
  outbox?: string;
  statsSeconds?: number;
}): string {
  const auth = options.account
    ? `, username: ${options.account.username}, password: ${options.account.password}`
    : "";
  return `internal_broker: { url: "${options.internal}", embedded: { enabled: false } }
central_broker: { url: "${options.central}", embedded: { enabled: false }${auth} }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
logging: { level: info, format: json, stats_interval_seconds: ${options.statsSeconds ?? 0} }
outbox: { drain_rate_per_second: 0${options.outbox ? `, ${options.outbox}` : ""} }
${options.stateDir ? `state_dir: ${options.stateDir}\n` : ""}`;
}

/** A temp directory removed on dispose. */
async function tempDir(prefix: string) {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Waits until the consumer's latest bridge state, seen after `since`, is `state`. */
async function expectState(
  consumer: CentralConsumer,
  bridge: BridgeProcess,
  state: "online" | "offline",
  since = 0,
  timeoutMs = 30_000,
): Promise<number> {
  const seen = () => consumer.states.at(-1)?.state === state && consumer.states.at(-1)!.at >= since;
  assert.ok(
    await waitUntil(seen, timeoutMs),
    `bridge/state did not become ${state} within ${timeoutMs} ms; states ${
      JSON.stringify(consumer.states.map((s) => s.state))
    }\n${complaints(bridge)}`,
  );
  return consumer.states.at(-1)!.at;
}

/** Waits until every reading of `replay` arrived (bounded); returns whether they did. */
function allArrived(
  consumer: CentralConsumer,
  count: number,
  timeoutMs = 60_000,
): Promise<boolean> {
  return waitForProgress(
    () => consumer.ledger.unique >= count,
    () => consumer.ledger.received,
    { timeoutMs, stallMs: 25_000 },
  );
}

/** The figures line of a replay, e.g. `20000 sent, 20000 received unique, 0 lost, …`. */
function figures(replay: Replay, consumer: CentralConsumer): string {
  const { ledger } = consumer;
  const lost = ledger.missing(replay.readings).length;
  const order = ledger.orderViolations.length === 0
    ? "order kept"
    : `ORDER BROKEN (${ledger.orderViolations.length} older after newer)`;
  return `${replay.readings.length} sent, ${ledger.unique} received unique, ${lost} lost, ` +
    `${ledger.duplicates} duplicates, ${order}`;
}

/** Asserts every reading of `replay` arrived intact and in order per topic. */
function assertDelivered(replay: Replay, consumer: CentralConsumer, bridge: BridgeProcess): void {
  const { ledger } = consumer;
  const missing = ledger.missing(replay.readings);
  assert.deepEqual(
    ledger.orderViolations.slice(0, 10),
    [],
    `${ledger.orderViolations.length} readings older than one received before on their topic`,
  );
  assert.deepEqual(ledger.payloadErrors.slice(0, 10), [], "payloads differ from the readings");
  assert.equal(
    missing.length,
    0,
    `${missing.length} readings lost, e.g. ${missing.slice(0, 5).join(", ")}; outbox status ${
      JSON.stringify(consumer.lastOutbox)
    }\n${complaints(bridge)}`,
  );
}

/** Stops the bridge with SIGTERM and asserts it exits cleanly. */
async function stopCleanly(bridge: BridgeProcess): Promise<void> {
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, `bridge exit code ${code}\n${complaints(bridge)}`);
}

/** Publishes in the background; the result is an error or undefined, never a rejection. */
function publishInBackground(publisher: Publisher, replay: Replay): Promise<unknown> {
  return publisher.publishAll("MQTT_ENY_NOW", replay.readings.map((r) => r.payload))
    .then(() => undefined, (error) => error);
}

/** Fails the test with `error` if publishing failed. */
function assertPublished(error: unknown): void {
  if (error !== undefined) throw new Error(`publishing to the internal broker failed: ${error}`);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

Deno.test("fault injection: central broker killed (SIGKILL) mid-replay and restarted after 5 s loses nothing", async () => {
  const replay = energyReplay({ meters: 100, perMeter: 200 });
  const total = replay.readings.length;
  await using state = await tempDir("kpm33b-fault-state-");
  await using internal = await startMosquitto(INTERNAL);
  await using central = await GatedMosquitto.start([CONSUMER, BRIDGE], CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, {
    account: CONSUMER,
    expected: replay.expected,
  });
  await using bridge = await startBridge(bridgeYaml({
    internal: internal.url,
    central: central.url,
    account: BRIDGE,
    stateDir: state.path,
  }));
  await expectState(consumer, bridge, "online");
  await using publisher = await Publisher.connect(internal.url);
  const publishing = publishInBackground(publisher, replay);

  assert.ok(
    await waitUntil(() => consumer.ledger.unique >= total / 4, 60_000),
    `a quarter of the replay did not arrive: ${figures(replay, consumer)}\n${complaints(bridge)}`,
  );
  const atKill = consumer.ledger.unique;
  await central.kill("SIGKILL");
  const killedAt = Date.now();
  // A real outage: readings pile up in the outbox meanwhile.
  await sleep(5000);
  // The consumer subscribes again before the bridge may connect: nothing the
  // bridge delivers after the restart can pass the consumer by.
  await central.restart([CONSUMER]);
  await consumer.reconnect();
  const admittedAt = await central.admit([CONSUMER, BRIDGE]);
  const backAt = await expectState(consumer, bridge, "online", killedAt, 45_000);
  assertPublished(await publishing);
  await allArrived(consumer, total);

  const retries = bridge.logLines().filter((l) =>
    l.logger === "kpm33b.proxy" && /^"?central"? broker .* unreachable/.test(String(l.message))
  );
  // Why each attempt failed, e.g. {"connect ECONNREFUSED …": 4, "Connection refused: Not authorized": 1}.
  const reasons = Object.fromEntries(
    Object.entries(Object.groupBy(retries, (l) => {
      const reason = /unreachable \((.*?)\); retrying/.exec(String(l.message))?.[1] ?? "down";
      return reason.replace(/:? check central_broker.*$/, "").replace(/127\.0\.0\.1:\d+/, "…");
    })).map(([reason, lines]) => [reason, lines!.length]),
  );
  console.log(
    `central killed: ${figures(replay, consumer)}, outage ${seconds(backAt - killedAt)} ` +
      `(killed at ${atKill} received, restarted after ${seconds(admittedAt - killedAt)}, ` +
      `bridge back ${seconds(backAt - admittedAt)} after it was admitted; failed reconnects ` +
      `${JSON.stringify(reasons)})`,
  );
  assertDelivered(replay, consumer, bridge);
  await stopCleanly(bridge);
});

Deno.test("fault injection: bridge killed (SIGKILL) mid-replay and restarted with the same state_dir loses nothing", async () => {
  const replay = energyReplay({ meters: 100, perMeter: 200 });
  const total = replay.readings.length;
  await using state = await tempDir("kpm33b-fault-state-");
  await using internal = await startMosquitto(INTERNAL);
  await using central = await startMosquitto(CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, { expected: replay.expected });
  const yaml = bridgeYaml({ internal: internal.url, central: central.url, stateDir: state.path });
  await using first = await startBridge(yaml);
  await expectState(consumer, first, "online");
  await using publisher = await Publisher.connect(internal.url);
  const publishing = publishInBackground(publisher, replay);

  assert.ok(
    await waitUntil(() => consumer.ledger.unique >= total / 4, 60_000),
    `a quarter of the replay did not arrive: ${figures(replay, consumer)}\n${complaints(first)}`,
  );
  const atKill = consumer.ledger.unique;
  const ackedAtKill = publisher.acked;
  await first.stop("SIGKILL");
  const killedAt = Date.now();
  const outboxFile = await Deno.stat(`${state.path}/outbox.sqlite`).catch(() => undefined);
  // The bridge stays down a while before it is started again.
  await sleep(1000);
  await using second = await startBridge(yaml);
  const backAt = await expectState(consumer, second, "online", killedAt);
  assertPublished(await publishing);
  await allArrived(consumer, total);

  console.log(
    `bridge killed: ${figures(replay, consumer)}, down ${seconds(backAt - killedAt)} ` +
      `(killed at ${atKill} received, ${ackedAtKill} acked by the internal broker; ` +
      `${state.path}/outbox.sqlite ${outboxFile ? `${outboxFile.size} bytes` : "MISSING"})`,
  );
  assert.ok(outboxFile?.isFile, `no outbox in state_dir ${state.path}`);
  assertDelivered(replay, consumer, second);
  await stopCleanly(second);
});

Deno.test("fault injection: internal broker restarted (SIGTERM, then SIGKILL): the bridge resubscribes by itself", async () => {
  // Three batches of 20 meters × 50 minutes: before, between and after the restarts.
  const replay = energyReplay({ meters: 20, perMeter: 150 });
  const batch = replay.readings.length / 3;
  const port = freePort();
  let internal: Mosquitto = await startMosquitto(INTERNAL, port);
  await using _internal = { [Symbol.asyncDispose]: () => internal.stop() };
  await using central = await startMosquitto(CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, { expected: replay.expected });
  await using bridge = await startBridge(
    bridgeYaml({ internal: internal.url, central: central.url }),
  );
  await expectState(consumer, bridge, "online");

  const restarts: string[] = [];
  for (const [i, signal] of (["SIGTERM", "SIGKILL", undefined] as const).entries()) {
    {
      await using publisher = await Publisher.connect(internal.url);
      await publisher.publishAll(
        "MQTT_ENY_NOW",
        replay.readings.slice(i * batch, (i + 1) * batch).map((r) => r.payload),
      );
    }
    assert.ok(
      await allArrived(consumer, (i + 1) * batch, 30_000),
      `batch ${i + 1} did not arrive: ${figures(replay, consumer)}\n${complaints(bridge)}`,
    );
    if (signal === undefined) break;
    if (signal === "SIGKILL") Deno.kill(internal.pid, "SIGKILL");
    const killedAt = Date.now();
    await internal.stop();
    const offlineAt = await expectState(consumer, bridge, "offline", killedAt);
    // Internal stays away at least 2 s.
    await sleep(Math.max(0, killedAt + 2000 - Date.now()));
    // Taken before the start: the bridge may be back online before startMosquitto returns.
    const restartedAt = Date.now();
    internal = await startMosquitto(INTERNAL, port);
    const onlineAt = await expectState(consumer, bridge, "online", restartedAt);
    restarts.push(
      `${signal}: offline after ${seconds(offlineAt - killedAt)}, ` +
        `online ${seconds(onlineAt - restartedAt)} after the restart`,
    );
  }
  const subscriptions =
    bridge.logLines().filter((l) => String(l.message).startsWith("Subscribed to")).length;

  console.log(
    `internal restarted: ${figures(replay, consumer)}; ${restarts.join("; ")}; ` +
      `${subscriptions} subscriptions to the internal broker`,
  );
  assert.equal(subscriptions, 3, "one subscription at start and one after each restart");
  assertDelivered(replay, consumer, bridge);
  await stopCleanly(bridge);
});

Deno.test("fault injection: outbox full while central is down keeps the newest max_entries readings, bounded memory", async () => {
  const MAX_ENTRIES = 500;
  const METERS = 20;
  // Minute 0 of every meter first (announces the meters), then 2,000 readings while central is down.
  const replay = energyReplay({ meters: METERS, perMeter: 101 });
  const warmUp = replay.readings.slice(0, METERS);
  const outage = replay.readings.slice(METERS);
  await using internal = await startMosquitto(INTERNAL);
  await using central = await GatedMosquitto.start([CONSUMER, BRIDGE], CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, {
    account: CONSUMER,
    expected: replay.expected,
  });
  await using bridge = await startBridge(bridgeYaml({
    internal: internal.url,
    central: central.url,
    account: BRIDGE,
    outbox: `max_entries: ${MAX_ENTRIES}`,
    statsSeconds: 1,
  }));
  await expectState(consumer, bridge, "online");
  await using publisher = await Publisher.connect(internal.url);
  await publisher.publishAll("MQTT_ENY_NOW", warmUp.map((r) => r.payload));
  assert.ok(await allArrived(consumer, METERS, 20_000), `warm-up: ${complaints(bridge)}`);
  await sleep(1500); // the outbox status settles (at most one per second)
  const pid = bridge.bridgePid();
  assert.ok(pid !== undefined, "the bridge logged its pid");
  const before = (await memoryOf(pid))!;

  await central.kill("SIGTERM");
  const stoppedAt = Date.now();
  await publisher.publishAll("MQTT_ENY_NOW", outage.map((r) => r.payload));
  // The bridge has taken every reading when its stats count them (received from internal).
  const received = () =>
    Math.max(
      0,
      ...bridge.logLines().filter((l) => String(l.message).startsWith("Stats:")).map((l) =>
        Number((l.stats as { received?: unknown } | undefined)?.received ?? 0)
      ),
    );
  const taken = await waitUntil(() => received() >= replay.readings.length, 30_000);
  const full = () => bridge.logLines().filter((l) => String(l.message).includes("Outbox full"));
  assert.ok(
    await waitUntil(() => full().length > 0, 15_000),
    `no "Outbox full" warning after ${outage.length} readings with max_entries ${MAX_ENTRIES}` +
      `\n${complaints(bridge)}`,
  );
  // Memory is measured once the outbox is full and stays so.
  await sleep(1500);
  const during = await memoryOf(pid);
  const aliveDuringOutage = await isRunning(pid);

  await central.restart([CONSUMER]);
  await consumer.reconnect();
  const admittedAt = await central.admit([CONSUMER, BRIDGE]);
  const backAt = await expectState(consumer, bridge, "online", admittedAt, 45_000);
  const firstStatus = await waitUntil(
    () => consumer.outbox.some((s) => s.at >= admittedAt),
    10_000,
  ).then(() => consumer.outbox.find((s) => s.at >= admittedAt));
  // Drained: the bridge reports an empty outbox and nothing more arrives.
  await waitForProgress(
    () => (consumer.lastOutbox?.at ?? 0) >= admittedAt && consumer.lastOutbox?.depth === 0,
    () => consumer.ledger.received,
    { timeoutMs: 45_000, stallMs: 20_000 },
  );
  // Memory is measured after the drain has settled.
  await sleep(1500);
  const after = await memoryOf(pid);

  const delivered = outage.flatMap((r, i) => consumer.ledger.counts.has(r.key) ? [i] : []);
  const k = delivered.length;
  const suffix = delivered.every((i, n) => i === outage.length - k + n);
  const oldest = delivered.filter((i) => i < outage.length - MAX_ENTRIES).length;
  const lastStatus = consumer.lastOutbox;
  const fullLines = full();
  // e.g. "Outbox full: dropped the 95 oldest readings (…); 95 dropped since start. …"
  const loggedDropped = fullLines.map((l) => /(\d+) dropped since start/.exec(String(l.message)))
    .findLast((m) => m !== null)?.[1];
  console.log(
    `outbox limit: ${outage.length} readings while central was down ${
      seconds(admittedAt - stoppedAt)
    } (bridge took ${received()} of ${replay.readings.length}${taken ? "" : ", NOT ALL"}), ` +
      `max_entries ${MAX_ENTRIES}: ${k} delivered after the restart (${
        suffix ? `exactly the newest ${k}` : "NOT the newest"
      }), ${oldest} of the oldest ${outage.length - MAX_ENTRIES}, ` +
      `${consumer.ledger.duplicates} duplicates, ${
        consumer.ledger.orderViolations.length === 0 ? "order kept" : "ORDER BROKEN"
      }; ${fullLines.length} "Outbox full" warnings (${
        loggedDropped ?? "?"
      } dropped by the last; first: ${JSON.stringify(fullLines[0]?.message)}); status first ${
        JSON.stringify(firstStatus)
      } last ${JSON.stringify(lastStatus)}; ` +
      `bridge back ${seconds(backAt - admittedAt)} after central admitted it; RSS ${
        mb(before.rssKb)
      } MB before, ${during ? mb(during.rssKb) : "?"} MB while full, ${
        after ? mb(after.rssKb) : "?"
      } MB after (VmHWM ${after ? mb(after.hwmKb) : "?"} MB)`,
  );
  assert.ok(aliveDuringOutage && during !== undefined, "the bridge died during the outage");
  assert.ok(await isRunning(pid), "the bridge is still running");
  assert.ok(suffix, `delivered readings are not the newest ones: ${delivered.slice(0, 10)}`);
  assert.ok(
    k <= MAX_ENTRIES && k >= MAX_ENTRIES * 0.9,
    `${k} readings survived, expected the newest ${MAX_ENTRIES} (at least 90 %)`,
  );
  assert.deepEqual(consumer.ledger.orderViolations.slice(0, 10), []);
  assert.deepEqual(consumer.ledger.payloadErrors.slice(0, 10), []);
  assert.equal(lastStatus?.depth, 0, "the outbox drained");
  assert.equal(
    lastStatus?.dropped,
    outage.length - k,
    "every accepted reading is either delivered or counted as dropped",
  );
  for (const memory of [during, after]) {
    assert.ok(
      memory !== undefined && memory.rssKb - before.rssKb < 100 * 1024,
      `RSS grew from ${mb(before.rssKb)} MB to ${memory ? mb(memory.rssKb) : "?"} MB`,
    );
  }
  await stopCleanly(bridge);
});

Deno.test("fault injection: central throttled to 50 KB/s: bounded memory while the backlog builds, order kept", async () => {
  const RATE = 50_000;
  const THROTTLED_MS = 20_000;
  const replay = energyReplay({ meters: 100, perMeter: 200 });
  const total = replay.readings.length;
  await using internal = await startMosquitto(INTERNAL);
  await using central = await startMosquitto(CENTRAL);
  await using proxy = ThrottleProxy.start(central.port, RATE);
  await using consumer = await CentralConsumer.connect(central.url, { expected: replay.expected });
  await using bridge = await startBridge(
    bridgeYaml({ internal: internal.url, central: proxy.url }),
  );
  await expectState(consumer, bridge, "online");
  const pid = bridge.bridgePid();
  assert.ok(pid !== undefined, "the bridge logged its pid");
  const base = (await memoryOf(pid))!;
  let peakRssKb = base.rssKb;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const memory = await memoryOf(pid);
      if (memory) peakRssKb = Math.max(peakRssKb, memory.rssKb);
      await sleep(200);
    }
  })();
  try {
    const began = Date.now();
    {
      await using publisher = await Publisher.connect(internal.url);
      await publisher.publishAll("MQTT_ENY_NOW", replay.readings.map((r) => r.payload));
    }
    const publishedAfter = Date.now() - began;
    // The throttled link carries what it can until THROTTLED_MS.
    await sleep(Math.max(0, began + THROTTLED_MS - Date.now()));
    const throttled = {
      received: consumer.ledger.unique,
      bytes: proxy.bytesUp,
      depth: Math.max(0, ...consumer.outbox.map((s) => s.depth)),
      peakRssKb,
      alive: await isRunning(pid),
    };
    proxy.rate = Infinity;
    const unthrottledAt = Date.now();
    await allArrived(consumer, total);
    const drained = Date.now() - unthrottledAt;
    const hwm = await memoryOf(pid);
    const maxDepth = Math.max(0, ...consumer.outbox.map((s) => s.depth));

    console.log(
      `central throttled to ${RATE / 1000} KB/s for ${seconds(THROTTLED_MS)}: ${total} published ` +
        `in ${seconds(publishedAfter)}, ${throttled.received} delivered while throttled ` +
        `(${(throttled.bytes / 1024).toFixed(0)} KiB through the link), outbox depth up to ` +
        `${throttled.depth} seen while throttled, ${maxDepth} in all; RSS ${mb(base.rssKb)} MB ` +
        `before, peak ${mb(throttled.peakRssKb)} MB while throttled, ${mb(peakRssKb)} MB in all ` +
        `(VmHWM ${hwm ? mb(hwm.hwmKb) : "?"} MB); unthrottled: ${figures(replay, consumer)}, ` +
        `drained in ${seconds(drained)}`,
    );
    assert.ok(throttled.alive && await isRunning(pid), "the bridge died");
    assert.ok(
      throttled.received < total,
      "the throttle did not hold anything back (the scenario tests nothing)",
    );
    assert.ok(maxDepth > 0, "the outbox status never showed a backlog");
    assert.ok(
      peakRssKb - base.rssKb < 150 * 1024,
      `RSS grew from ${mb(base.rssKb)} MB to ${mb(peakRssKb)} MB`,
    );
    assertDelivered(replay, consumer, bridge);
  } finally {
    sampling = false;
    await sampler;
  }
  await stopCleanly(bridge);
});

const ID = METER_ID_PATTERN.source.slice(1, -1);
/** Every topic the bridge may publish on central (topics.ts with root `kpm33b`). */
const LAYOUT = new RegExp(
  `^(kpm33b/(bridge/(state|outbox|info|meters)|discovery/${ID}|` +
    `${ID}/(seconds|minutes|day|availability|status|io|relay))|` +
    `homeassistant/(sensor|binary_sensor|switch)/kpm33b_${ID}/[a-z0-9_]+/config|` +
    `homeassistant/(sensor|binary_sensor|button)/kpm33b_bridge/[a-z0-9_]+/config)$`,
);
const DISCOVERY_CONFIG = new RegExp(
  `^homeassistant/[a-z_]+/kpm33b_(${ID}|bridge)/([a-z0-9_]+)/config$`,
);
const READING = new RegExp(`^kpm33b/(${ID})/(seconds|minutes|day)$`);

/** Why a central message breaks the published contract, or undefined. */
function invalidCentralMessage(topic: string, payload: Uint8Array): string | undefined {
  if (!LAYOUT.test(topic)) return `topic outside the layout: ${JSON.stringify(topic)}`;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
  } catch {
    return `${topic}: payload is not UTF-8`;
  }
  if (topic === "kpm33b/bridge/state" || topic.endsWith("/availability")) {
    return ["online", "offline"].includes(text) ? undefined : `${topic}: ${text}`;
  }
  if (topic.endsWith("/relay")) {
    return RelayState.safeParse(text).success ? undefined : `${topic}: ${text}`;
  }
  const config = DISCOVERY_CONFIG.exec(topic);
  if (config !== null && text === "") return undefined;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    return `${topic}: not JSON: ${text.slice(0, 300)}`;
  }
  if (topic === "kpm33b/bridge/outbox") {
    return ["depth", "bytes", "dropped"].every((k) => Number.isFinite(json[k]))
      ? undefined
      : `${topic}: ${text}`;
  }
  if (topic.startsWith("kpm33b/discovery/")) {
    const parsed = MeterAnnouncement.safeParse(json);
    return parsed.success && topic.endsWith(`/${parsed.data.id}`) ? undefined : `${topic}: ${text}`;
  }
  if (config !== null) {
    const [, id, key] = config;
    return json.unique_id === `kpm33b_${id}_${key}` ? undefined : `${topic}: ${text}`;
  }
  const schemas = [
    ["kpm33b/bridge/info", BridgeInfo],
    ["kpm33b/bridge/meters", MeterStatus.array()],
    ["/status", MeterStatus],
    ["/io", IoPayload],
  ] as const;
  for (const [suffix, schema] of schemas) {
    if (!topic.endsWith(suffix)) continue;
    const parsed = schema.safeParse(json);
    return parsed.success ? undefined : `${topic}: ${parsed.error.message}`;
  }
  const [, id] = READING.exec(topic)!;
  const { id: payloadId, time, timestamp, ...values } = json;
  if (payloadId !== id) return `${topic}: id ${JSON.stringify(payloadId)}`;
  if (typeof time !== "string" || typeof parseMeterTime(time) === "string") {
    return `${topic}: time ${JSON.stringify(time)}`;
  }
  if (typeof timestamp !== "string" || Number.isNaN(Date.parse(timestamp))) {
    return `${topic}: timestamp ${JSON.stringify(timestamp)}`;
  }
  const bad = Object.entries(values).find(([, v]) =>
    v !== null && !(typeof v === "number" && Number.isFinite(v))
  );
  return bad ? `${topic}: ${bad[0]} ${JSON.stringify(bad[1])}` : undefined;
}

Deno.test("fault injection: 10,000 hostile payloads (fast-check) never crash the bridge or leave the topic layout", async () => {
  const seed = Number(Deno.env.get("FAULT_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const messages = fc.sample(hostileMessage, { numRuns: 10_000, seed });
  await using internal = await startMosquitto(INTERNAL);
  await using central = await startMosquitto(CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, {
    filter: "#",
    keepMessages: true,
  });
  await using bridge = await startBridge(
    bridgeYaml({ internal: internal.url, central: central.url }),
  );
  await expectState(consumer, bridge, "online");
  const pid = bridge.bridgePid();
  assert.ok(pid !== undefined, "the bridge logged its pid");
  const before = (await memoryOf(pid))!;

  await using publisher = await Publisher.connect(internal.url);
  await publisher.publishEach(messages);
  // A valid reading last: once it is through, every hostile reading before it was handled.
  const sentinel = JSON.parse(
    Deno.readTextFileSync(new URL("../fixtures/MQTT_RT_DATA.json", import.meta.url)),
  );
  sentinel.id = "33B9999999999";
  await publisher.publishEach([{ topic: "MQTT_RT_DATA", payload: JSON.stringify(sentinel) }]);
  const forwarded = await waitUntil(
    () => consumer.messages.some((m) => m.topic === "kpm33b/33B9999999999/seconds"),
    30_000,
  );
  // Memory is measured after the hostile payloads are through.
  await sleep(1000);
  const alive = await isRunning(pid);
  const after = await memoryOf(pid);

  const outside = consumer.messages.filter((m) => !LAYOUT.test(m.topic)).map((m) => m.topic);
  const invalid = consumer.messages.flatMap((m) => {
    const why = LAYOUT.test(m.topic) ? invalidCentralMessage(m.topic, m.payload) : undefined;
    return why === undefined ? [] : [why];
  });
  const topics = new Set(consumer.messages.map((m) => m.topic));
  const readings = consumer.messages.filter((m) => READING.test(m.topic)).length;
  const announcements = consumer.messages.filter((m) => m.topic.includes("/discovery/")).length;
  const crashes = bridge.logLines().filter((l) => /crashed/.test(String(l.message)));
  const errors = bridge.logLines().filter((l) => l.level === "ERROR" || l.level === "FATAL");
  const byKind = Object.entries(Object.groupBy(messages, (m) => m.kind)).map(([kind, list]) =>
    `${list!.length} ${kind}`
  ).join(", ");
  const byTopic = Object.entries(Object.groupBy(messages, (m) => m.topic)).map(([topic, list]) =>
    `${topic} ${list!.length}`
  ).join(", ");
  const { code } = await bridge.stop("SIGTERM");
  const stats = bridge.logLines().findLast((l) => String(l.message).startsWith("Stats:"))
    ?.stats as Record<string, unknown> | undefined;

  console.log(
    `hostile payloads (FAULT_SEED=${seed}): ${messages.length} published (${byKind}; ${byTopic}); ` +
      `central: ${consumer.messages.length} messages on ${topics.size} topics ` +
      `(${readings} readings, ${announcements} announcements), ${outside.length} outside the ` +
      `layout, ${invalid.length} with a broken payload (${
        invalid.filter((why) => /Infinity|NaN/.test(why)).length
      } of them non-finite numbers); rejected ${JSON.stringify(stats?.rejected)}, ` +
      `dropped ${JSON.stringify(stats?.dropped)}; ${crashes.length} worker crashes, ` +
      `${errors.length} error lines; bridge ${alive ? "alive" : "DEAD"}, sentinel ${
        forwarded ? "forwarded" : "NOT forwarded"
      }, exit code ${code}; RSS ${mb(before.rssKb)} → ${after ? mb(after.rssKb) : "?"} MB`,
  );
  assert.ok(alive, `the bridge died\n${complaints(bridge)}`);
  assert.ok(forwarded, `the valid reading sent last was not forwarded\n${complaints(bridge)}`);
  assert.deepEqual(outside.slice(0, 10), [], `${outside.length} topics outside the layout`);
  assert.deepEqual(invalid.slice(0, 10), [], `${invalid.length} broken payloads on central`);
  assert.deepEqual(
    crashes.map((l) => l.message),
    [],
    "workers crashed on hostile payloads",
  );
  assert.equal(code, 0, `bridge exit code ${code}\n${complaints(bridge)}`);
});
