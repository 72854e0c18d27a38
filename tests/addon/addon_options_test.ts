import assert from "node:assert/strict";
import { AddonOptionsError, parseAddonOptions } from "../../src/addon/addon_options.ts";

Deno.test("missing options take their defaults; unknown ones are dropped", () => {
  assert.deepEqual(parseAddonOptions({ old_option: 1 }), {
    meter_password: "",
    timezone: "",
    meter_names: [],
    relay_control: [],
    log_level: "info",
    config_overrides: "",
  });
});

Deno.test("an invalid option is named as the Configuration tab shows it", () => {
  assert.throws(
    () => parseAddonOptions({ meter_names: [{ id: "33B1225950027", name: "" }] }),
    (error) =>
      error instanceof AddonOptionsError && /^option meter_names\[0\]\.name: /.test(error.message),
  );
  assert.throws(() => parseAddonOptions({ log_level: "loud" }), /option log_level: /);
  assert.throws(
    () =>
      parseAddonOptions({
        meter_names: [{ id: "33B1225950027", name: "a" }, { id: "33B1225950027", name: "b" }],
      }),
    /33B1225950027 is named twice/,
  );
});
