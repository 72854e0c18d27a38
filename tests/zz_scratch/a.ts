import { MeterClock } from "../../src/protocol/meter_time.ts";
import { decodeReading, decodeUplink } from "../../src/protocol/decode.ts";
import { encodeReadingPayload, payloadFields } from "../../src/protocol/transform.ts";
import { redactUrl } from "../../src/logging/redact.ts";
const enc = new TextEncoder();
for (
  const zone of ["Pacific/Auckland", "Pacific/Chatham", "Europe/Vienna", "Australia/Lord_Howe"]
) {
  const c = new MeterClock(zone);
  let fails = 0;
  let first = "";
  const start = Date.UTC(2026, 0, 1);
  for (let t = start; t < Date.UTC(2027, 0, 1); t += 15 * 60_000) {
    const s = c.meterTimeAt(t);
    const back = c.instantOf(s);
    if (c.meterTimeAt(back) !== s) {
      fails++;
      if (!first) {
        first = `${new Date(t).toISOString()} wall ${s} -> ${new Date(back).toISOString()} wall ${
          c.meterTimeAt(back)
        }`;
      }
    }
  }
  console.log(zone, "wall round-trip fails", fails, first);
}
const ak = new MeterClock("Pacific/Auckland");
console.log("Auckland repeated 2026-04-05 02:30:", ak.isoTimestamp("20260405023000"));
console.log("Auckland skipped 2026-09-27 02:30:", ak.isoTimestamp("20260927023000"));
const ch = new MeterClock("Pacific/Chatham");
console.log(
  "Chatham 2026-04-05 02:15:",
  ch.isoTimestamp("20260405021500"),
  new Date(ch.instantOf("20260405021500")).toISOString(),
  ch.meterTimeAt(ch.instantOf("20260405021500")),
);
const v = new MeterClock("Europe/Vienna");
console.log(v.isoTimestamp("20261025023000"), v.isoTimestamp("20260329023000"));
const ny = new MeterClock("America/New_York");
console.log(ny.isoTimestamp("20261101013000"), ny.isoTimestamp("20260308023000"));
const r = decodeReading(
  "MQTT_RT_DATA",
  enc.encode(JSON.stringify({ id: "33B1225950027", time: "20260112163900", zyggl: "1e999" })),
  65536,
);
console.log(r);
if (r.ok !== false) {
  const p = encodeReadingPayload(
    r as any,
    "x",
    payloadFields("seconds", { profile: "default", fields: [] }, "KPM33B"),
  );
  console.log(p);
  try {
    JSON.parse(p);
  } catch (e) {
    console.log("INVALID JSON", (e as Error).message);
  }
}
const nj = decodeUplink(
  "MQTT_RT_DATA",
  enc.encode("abc\n2026-01-01 FAKE LOG LINE " + "x".repeat(10)),
  65536,
);
console.log(JSON.stringify(nj));
const nj2 = decodeUplink(
  "MQTT_RT_DATA",
  enc.encode('{"a":1,\n"b" FAKE\u001b[31m ' + "x".repeat(300)),
  65536,
);
console.log(JSON.stringify(nj2));
const pr = decodeReading(
  "MQTT_RT_DATA",
  enc.encode('{"id":"33B1225950027","time":"20260112163900","zyggl":"1","__proto__":{"ia":7}}'),
  65536,
);
console.log("proto", pr);
console.log(
  redactUrl("mqtt://user:pass@host:1883"),
  redactUrl("mqtt://:secret@host"),
  redactUrl("mqtts://u@h/x?y=1"),
  redactUrl("nope"),
  redactUrl("ws://u:p@h:80/mqtt"),
);
