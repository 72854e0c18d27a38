/**
 * A configuration file that cannot be meant — empty, as an editor or a
 * configuration-management run leaves it for a moment — with the real bridge
 * (`deno task start`): refused at start (exit 78) and by `--check-config`;
 * while running, refused by the file watch and by the bridge API's
 * `config/reload`, the running configuration staying in force (an excluded
 * meter stays excluded) until a valid file is saved.
 */
import assert from "node:assert/strict";
import { ApiResponse } from "../../src/protocol/bridge_api.ts";
import { runTaskStart, startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { energyReplay, Publisher } from "../helpers/replay.ts";
import { sleep } from "../helpers/wait.ts";

Deno.test("an empty config.yaml stops the bridge at start (exit 78) with the file named; --check-config says the same", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-empty-config-" });
  try {
    const path = `${dir}/config.yaml`;
    for (const text of ["", "\n  \n", "# all commented out\n# meters: {}\n"]) {
      await Deno.writeTextFile(path, text);
      for (const args of [["--config", path], ["--config", path, "--check-config"]]) {
        const { code, stdout, stderr } = await runTaskStart(args);
        assert.equal(code, 78, `${args.join(" ")} with ${JSON.stringify(text)}: ${stdout}`);
        assert.equal(stdout, "", "nothing started, nothing reported valid");
        assert.equal(
          stderr.trim(),
          `Invalid configuration:\n${path}: the file is empty (nothing but blanks or comments); ` +
            "write the configuration into it, or {} to run on every default",
        );
      }
    }
    await Deno.writeTextFile(path, "{}\n");
    const { code, stdout } = await runTaskStart(["--config", path, "--check-config"]);
    assert.equal(code, 0, "{} is every default, on purpose");
    assert.match(stdout, /is valid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config.yaml emptied while the bridge runs: the watch and config/reload refuse it, the excluded meter stays excluded", async () => {
  const replay = energyReplay({ meters: 2, perMeter: 3 });
  const [excluded, other] = replay.meters;
  assert.ok(excluded !== undefined && other !== undefined);
  /** Minute `i` of meter `m`. */
  const reading = (m: number, i: number) => {
    const found = replay.readings[i * 2 + m];
    assert.ok(found !== undefined, `minute ${i} of meter ${m} is in the replay`);
    return found.payload;
  };
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await using bridge = await startBridge(`internal_broker: { url: "${internal.url}" }
central_broker: { url: "${central.url}" }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 }, exclude: ["${excluded}"] }
logging: { format: json, level: info, stats_interval_seconds: 0 }
`);
  const running = await Deno.readTextFile(bridge.configPath);
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
    30_000,
  );
  await using publisher = await Publisher.connect(internal.url);
  const minutes = (id: string) => consumer.on(`kpm33b/${id}/minutes`);

  await publisher.publishAll("MQTT_ENY_NOW", [reading(0, 0), reading(1, 0)]);
  await consumer.waitFor(() => minutes(other).length === 1, "the first reading of the other meter");

  // The file as a save leaves it for a moment, and as a broken save leaves it for good.
  await Deno.truncate(bridge.configPath, 0);
  const watched = await bridge.waitForLog(
    (l) => l.level === "ERROR" && String(l.message).includes("is empty"),
    "the watch to refuse the empty file",
  );
  assert.match(
    String(watched.message),
    new RegExp(`^${bridge.configPath} is empty; the running configuration stays\\.`),
  );

  const transaction = crypto.randomUUID();
  await consumer.publish(
    "kpm33b/bridge/request/config/reload",
    JSON.stringify({ transaction }),
  );
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/response/config/reload"),
    "the config/reload answer",
    20_000,
  );
  const [response] = consumer.on("kpm33b/bridge/response/config/reload");
  assert.ok(response !== undefined);
  const answer = ApiResponse.parse(JSON.parse(response.payload));
  assert.deepEqual(answer, {
    status: "error",
    data: {},
    error: `${bridge.configPath} is empty; the running configuration stays ` +
      "(write the configuration into it, or {} for every default)",
    transaction,
  });

  await publisher.publishAll("MQTT_ENY_NOW", [reading(0, 1), reading(1, 1)]);
  await consumer.waitFor(
    () => minutes(other).length === 2,
    "the second reading of the other meter",
  );
  // No reading of the excluded meter arrives late.
  await sleep(500);
  assert.deepEqual(minutes(excluded), [], "the excluded meter stayed excluded");
  assert.ok(
    !bridge.logLines().some((l) => String(l.message).startsWith("Configuration reloaded")),
    "nothing was reloaded",
  );

  // A valid save is applied: without the exclusion, the meter's next reading comes through.
  await Deno.writeTextFile(bridge.configPath, running.replace(`, exclude: ["${excluded}"]`, ""));
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Configuration reloaded"),
    "the valid save to be applied",
  );
  await publisher.publishAll("MQTT_ENY_NOW", [reading(0, 2)]);
  await consumer.waitFor(() => minutes(excluded).length === 1, "the formerly excluded meter");
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0);
});
