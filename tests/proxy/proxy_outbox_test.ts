import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import type { OutboxEntry } from "../../src/outbox/outbox_store.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { ProxyOutbox } from "../../src/proxy/proxy_outbox.ts";
import { outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";
import { fakeLog } from "../helpers/fake_central.ts";

const T0 = Date.UTC(2026, 11, 3, 12);

function setUp(problem = false, maxEntries = 10_000) {
  const config = Config.parse({ outbox: { max_entries: maxEntries, drain_rate_per_second: 10 } });
  const sent: OutboxEntry[] = [];
  const { log, lines } = fakeLog();
  const opened = {
    store: new MemoryOutboxStore(),
    notices: ["a notice"],
    ...(problem ? { problem: outboxProblem(new Date(T0)) } : {}),
  };
  const outbox = new ProxyOutbox(
    () => config,
    opened,
    {
      publish: (entry, done) => {
        sent.push(entry);
        done();
      },
    },
    log,
    () => T0,
  );
  return { outbox, sent, lines };
}

Deno.test("notices are warned about; a problem is logged and reported until acknowledged", () => {
  const env = setUp(true);
  assert.deepEqual(env.lines[0], ["warn", "{notice}", { notice: "a notice" }]);
  assert.equal(env.lines[1]?.[0], "error");
  assert.equal(env.lines[1]?.[1], "{description}");
  const problem = env.outbox.problem;
  assert.notEqual(problem, undefined);
  assert.equal(env.outbox.report().problem, problem);
  assert.equal(env.outbox.acknowledge(), problem);
  assert.equal(env.outbox.problem, undefined);
  assert.equal(env.outbox.acknowledge(), undefined);
  assert.deepEqual(env.lines[2], [
    "warn",
    "Outbox problem acknowledged ({kind} of {file}, found {since})",
    { kind: problem?.kind, file: problem?.file, since: problem?.since },
  ]);
});

Deno.test("a full outbox drops the oldest with a warning naming the settings", () => {
  const env = setUp(false, 100);
  const publication = (n: number) => ({ topic: `t/${n}`, payload: `${n}`, retain: false });
  env.outbox.outbox.accept(
    Array.from({ length: 101 }, (_, n) => publication(n)),
    new Set(),
    () => {},
  );
  env.outbox.outbox.flush();
  const warning = env.lines.find(([level, message]) =>
    level === "warn" && message.startsWith("Outbox full")
  );
  assert.deepEqual(warning?.[2], {
    count: 1,
    maxEntries: 100,
    maxMegabytes: 256,
    maxAgeHours: 168,
    dropped: 1,
  });
  assert.equal(env.outbox.report().status.entries, 100);
  env.outbox.outbox.close();
});

Deno.test("connecting with a backlog logs its pace", () => {
  const env = setUp();
  env.outbox.outbox.accept([{ topic: "t/1", payload: "1", retain: false }], new Set(), () => {});
  env.outbox.outbox.flush();
  env.outbox.connected();
  assert.deepEqual(env.lines.at(-1), [
    "info",
    "Delivering the outbox backlog of {backlog} readings at {rate}/s " +
    "(outbox.drain_rate_per_second), new readings as they arrive: about {minutes} min",
    { backlog: 1, rate: 10, minutes: 1 },
  ]);
  assert.equal(env.outbox.report().durable, false);
  env.outbox.outbox.close();
});

Deno.test("meter/reset_history forgets the history in memory, stores the change and says so", () => {
  const env = setUp();
  const id = "33B1225950027" as MeterId;
  const forgotten: MeterId[] = [];
  const answer = env.outbox.resetHistory(id, {
    forgetHistory: (meter) => forgotten.push(meter) > 0,
  });
  assert.deepEqual(answer, { id, forgotten: true });
  assert.deepEqual(forgotten, [id]);
  assert.equal(env.lines.at(-1)?.[0], "warn");
  assert.match(String(env.lines.at(-1)?.[1]), /Filter history of \{id\} cleared on request/);
});
