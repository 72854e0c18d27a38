import { isTimeZone, MeterClock, parseMeterTime } from "../../src/protocol/meter_time.ts";
const lh = new MeterClock("Australia/Lord_Howe");
console.log(
  lh.isoTimestamp("20260405014500"),
  lh.isoTimestamp("20260405020000"),
  lh.isoTimestamp("20261004021500"),
  lh.isoTimestamp("20260105120000"),
);
console.log(
  new MeterClock("America/St_Johns").isoTimestamp("20260112120000"),
  new MeterClock("Asia/Kathmandu").isoTimestamp("20260112120000"),
);
for (const z of ["", "utc", "Europe/Vienna ", "EST", "Etc/GMT+5", "+01:00", "europe/vienna"]) {
  console.log(JSON.stringify(z), isTimeZone(z));
}
const u = new MeterClock("UTC");
console.log(
  u.instantOf("00500101000000"),
  new Date(u.instantOf("00500101000000")).toISOString(),
  u.isoTimestamp("00500101000000"),
  parseMeterTime("00000229000000"),
  parseMeterTime("00040229000000"),
);
