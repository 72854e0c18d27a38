import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { formatJsonLine } from "../../src/logging/setup.ts";

function record(message: unknown[], properties: Record<string, unknown>): LogRecord {
  return {
    category: ["kpm33b", "broker", "internal"],
    level: "info",
    message,
    rawMessage: "",
    timestamp: Date.parse("2026-12-03T08:00:00Z"),
    properties,
  };
}

Deno.test("a JSON log line renders string values in the message as themselves", () => {
  const line = JSON.parse(formatJsonLine(record(
    ["Embedded ", "internal", " broker listening on ", "127.0.0.1", ":", 11883, ""],
    { role: "internal", host: "127.0.0.1", port: 11883 },
  )));
  assert.equal(line.message, "Embedded internal broker listening on 127.0.0.1:11883");
  assert.equal(line.logger, "kpm33b.broker.internal");
  assert.equal(line.level, "INFO");
  assert.equal(line.host, "127.0.0.1");
  assert.equal(line.port, 11883);
});

Deno.test("a JSON log line renders objects as JSON and stays one line with control characters", () => {
  const text = formatJsonLine(record(
    ["Stats: ", { received: 1 }, "; id ", "evil\nforged line", ""],
    { id: "evil\nforged line" },
  ));
  assert.equal(text.trimEnd().split("\n").length, 1);
  const line = JSON.parse(text);
  assert.equal(line.message, 'Stats: {"received":1}; id "evil\\nforged line"');
  assert.equal(line.id, "evil\nforged line");
});

Deno.test("a property named like a key of the line (a reading's level) does not replace it", () => {
  const line = JSON.parse(formatJsonLine(record(
    ["Dropped ", "minutes", " reading of ", "33B1225950027", ""],
    { level: "minutes", id: "33B1225950027", message: "m", logger: "l" },
  )));
  assert.equal(line.level, "INFO");
  assert.equal(line.message, "Dropped minutes reading of 33B1225950027");
  assert.equal(line.logger, "kpm33b.broker.internal");
  assert.equal(line.level_, "minutes");
  assert.equal(line.message_, "m");
  assert.equal(line.logger_, "l");
  assert.equal(line.id, "33B1225950027");
});
