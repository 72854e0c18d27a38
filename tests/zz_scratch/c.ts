import { decodeUplink } from "../../src/protocol/decode.ts";
const enc = new TextEncoder();
for (
  const s of [
    "x\ny",
    "nope\nFAKE LOG",
    "n\nINFO fake line that is long",
    '{"a":1}\n\nINFO forged line here and more text',
    "[1,\n2",
    '{"id":tru\nINFO forged',
  ]
) {
  const r = decodeUplink("MQTT_RT_DATA", enc.encode(s), 65536);
  console.log(JSON.stringify(r.ok ? r : r.reason), r.ok ? "" : r.reason.includes("\n"));
}
