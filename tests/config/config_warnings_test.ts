import assert from "node:assert/strict";
import { configWarnings } from "../../src/config/config_warnings.ts";
import { parseConfig } from "../../src/config/load.ts";

const config = (yaml: string) => parseConfig(yaml, "config.yaml", () => undefined);

Deno.test("an availability timeout not longer than the upload interval is warned about, naming the key", () => {
  assert.deepEqual(
    configWarnings(config("meters:\n  availability_timeout_seconds: 60\n")),
    [
      "meters.availability_timeout_seconds: 60 s is not longer than the longest seconds-level " +
      "upload interval (60 s), so meters show offline between their readings; set at least 120, " +
      "or remove it to follow the interval (meters.availability_factor)",
    ],
  );
});

Deno.test("a meter override with a longer interval counts", () => {
  const [warning] = configWarnings(
    config(
      "meters:\n  availability_timeout_seconds: 300\n" +
        '  overrides:\n    "33B1225950027": { upload_interval_seconds: 600 }\n',
    ),
  );
  assert.match(warning ?? "", /300 s is not longer than .* \(600 s\).*set at least 1200/);
});

Deno.test("the defaults and a timeout longer than every interval give no warning", () => {
  assert.deepEqual(configWarnings(config("{}")), []);
  assert.deepEqual(configWarnings(config("meters:\n  availability_timeout_seconds: 61\n")), []);
});
