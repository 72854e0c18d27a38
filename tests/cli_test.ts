import assert from "node:assert/strict";
import { parseCli } from "../src/cli.ts";

Deno.test("defaults to running with ./config.yaml", () => {
  assert.deepEqual(parseCli([]), { kind: "run", configPath: "./config.yaml" });
});

Deno.test("--config / -c choose the file; --check-config only validates", () => {
  assert.deepEqual(parseCli(["--config", "/etc/kpm33b/config.yaml"]), {
    kind: "run",
    configPath: "/etc/kpm33b/config.yaml",
  });
  assert.deepEqual(parseCli(["-c", "x.yaml", "--check-config"]), {
    kind: "check-config",
    configPath: "x.yaml",
  });
});

Deno.test("help, version and unknown options", () => {
  assert.deepEqual(parseCli(["--help"]), { kind: "help" });
  assert.deepEqual(parseCli(["-V"]), { kind: "version" });
  const bad = parseCli(["--colour"]);
  assert.equal(bad.kind, "usage-error");
  assert.match((bad as { message: string }).message, /--colour/);
  assert.equal(parseCli(["stray"]).kind, "usage-error");
});
