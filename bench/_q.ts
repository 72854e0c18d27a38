const sample = JSON.parse(Deno.readTextFileSync("tests/fixtures/MQTT_RT_DATA.json"));
const enc = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });
const messages = Array.from(
  { length: 600 },
  (_, i) =>
    enc.encode(
      JSON.stringify({
        ...sample,
        id: `33B12259${String(50000 + (i % 50))}`,
        time: `2026011216${String(Math.floor(i / 50)).padStart(2, "0")}00`,
      }),
    ),
);
const strings = messages.map((m) => td.decode(m));
const N = 1_000_000;
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  for (let i = 0; i < N; i++) td.decode(messages[i % 600]);
  console.log("utf8", ((performance.now() - t) * 1000 / N).toFixed(2));
  t = performance.now();
  for (let i = 0; i < N; i++) JSON.parse(strings[i % 600]);
  console.log("json", ((performance.now() - t) * 1000 / N).toFixed(2));
  t = performance.now();
  for (let i = 0; i < N; i++) JSON.parse(td.decode(messages[i % 600]));
  console.log("both", ((performance.now() - t) * 1000 / N).toFixed(2));
}
