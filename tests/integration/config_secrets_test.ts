/**
 * Configuration errors never print a secret, with the real bridge (`deno
 * task start`): a distinct secret in every secret position, each broken in
 * another way (validation, YAML syntax, `${VAR}`, PEM text), is kept out of
 * `--check-config`'s output, the log on stdout, the log file and the bridge
 * API's `config/reload` answer on the central broker, where any client may
 * read it — while each error still names the key and the problem.
 */
import assert from "node:assert/strict";
import { ApiResponse } from "../../src/protocol/bridge_api.ts";
import { runTaskStart, startBridge } from "../helpers/bridge.ts";
import { withTempDir } from "../helpers/files.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { leakedSecrets, SECRET_CONFIGS } from "../helpers/secret_configs.ts";

Deno.test("--check-config names every problem of a configuration full of secrets and prints none of them", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/config.yaml`;
    for (const { name, yaml, expect } of SECRET_CONFIGS) {
      await Deno.writeTextFile(path, yaml);
      const { code, stdout, stderr } = await runTaskStart(["--config", path, "--check-config"]);
      const output = stdout + stderr;
      assert.equal(code, 78, `${name}: ${output}`);
      assert.deepEqual(leakedSecrets(output), [], `${name}:\n${output}`);
      for (const pattern of expect) assert.match(stderr, pattern, `${name}:\n${output}`);
    }
  });
});

Deno.test("config/reload answers, the log and the log file name the problems of a saved configuration but none of its secrets", async () => {
  await withTempDir(async (dir) => {
    const logFile = `${dir}/bridge.log`;
    await using internal = await startMosquitto();
    await using central = await startMosquitto();
    await using consumer = await TestClient.connect(central.url);
    await consumer.subscribe("kpm33b/bridge/#");
    await using bridge = await startBridge(`internal_broker: { url: "${internal.url}" }
central_broker: { url: "${central.url}" }
logging: { format: json, level: info, stats_interval_seconds: 0, file: { path: "${logFile}" } }
`);
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
      "bridge/state online",
      30_000,
    );

    for (const { name, yaml, expect } of SECRET_CONFIGS) {
      await Deno.writeTextFile(bridge.configPath, yaml);
      const transaction = crypto.randomUUID();
      await consumer.publish(
        "kpm33b/bridge/request/config/reload",
        JSON.stringify({ transaction }),
      );
      const answered = (payload: string) => payload.includes(transaction);
      await consumer.waitFor(
        () => consumer.on("kpm33b/bridge/response/config/reload").some((m) => answered(m.payload)),
        `the config/reload answer for ${name}`,
        20_000,
      );
      const payload = consumer.on("kpm33b/bridge/response/config/reload")
        .find((m) => answered(m.payload))!.payload;
      const answer = ApiResponse.parse(JSON.parse(payload));
      assert.equal(answer.status, "error", `${name}: ${payload}`);
      assert.deepEqual(leakedSecrets(payload), [], `${name}: ${payload}`);
      assert.match(answer.error!, /^invalid configuration, the running one stays: /, name);
      for (const pattern of expect) assert.match(answer.error!, pattern, `${name}: ${payload}`);
    }

    const { code } = await bridge.stop("SIGTERM");
    assert.equal(code, 0, bridge.output());
    const inFile = await Deno.readTextFile(logFile);
    const rejected = (text: string) =>
      text.split("\n").filter((line) => line.includes("Configuration change rejected")).length;
    assert.ok(rejected(inFile) >= SECRET_CONFIGS.length, "every rejection is in the log file");
    assert.ok(rejected(bridge.output()) >= SECRET_CONFIGS.length, "and on stdout");
    assert.deepEqual(leakedSecrets(inFile), [], "the log file");
    assert.deepEqual(leakedSecrets(bridge.output()), [], "stdout and stderr");
    assert.match(inFile, /accounts\.33b1225950099: invalid key: meter id must be exactly 13/);
  });
});
