import assert from "node:assert/strict";
import { clientId } from "../../src/cluster/client_id.ts";
import { Config } from "../../src/config/schema.ts";

Deno.test("client ids add the replica name when there is one", () => {
  const alone = Config.parse({});
  assert.equal(
    clientId(alone, "internal_broker", "proxy-internal"),
    "kpm33b-bridge-proxy-internal",
  );
  const replica = Config.parse({
    internal_broker: { url: "mqtt://emqx:1883", client_id: "site1" },
    cluster: { share_group: "kpm33b", replica: "kpm33b-bridge-2" },
  });
  assert.equal(
    clientId(replica, "internal_broker", "proxy-internal"),
    "site1-kpm33b-bridge-2-proxy-internal",
  );
  assert.equal(
    clientId(replica, "central_broker", "config-central"),
    "kpm33b-bridge-kpm33b-bridge-2-config-central",
  );
});
