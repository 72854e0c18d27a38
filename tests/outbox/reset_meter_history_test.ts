import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { resetMeterHistory } from "../../src/outbox/reset_meter_history.ts";
import { OutboxInUseError, SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");

const configIn = (dir: string, extra = "") =>
  parseConfig(`state_dir: ${dir}\n${extra}`, "config.yaml", () => undefined);

/** Runs `body` with a fresh temporary directory, removed afterwards. */
function inTempDir(body: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "kpm33b-" });
  try {
    body(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function storeStates(path: string, states: Array<[string, string]>): void {
  const store = new SqliteOutboxStore(path);
  store.write({
    append: [{ topic: "kpm33b/33B1225950027/minutes", payload: "{}", retain: false }],
    remove: [],
    meterStates: new Map(states),
    now: 1,
  });
  store.close();
}

Deno.test("forgets one meter's stored history and keeps everything else", () => {
  inTempDir((dir) => {
    const path = `${dir}/outbox.sqlite`;
    storeStates(path, [[A, '{"live":true,"last":{}}'], [B, '{"live":false,"last":{}}']]);
    assert.deepEqual(resetMeterHistory(configIn(dir), A), { outcome: "forgotten", path });
    assert.deepEqual(resetMeterHistory(configIn(dir), A), { outcome: "none", path });
    const store = new SqliteOutboxStore(path);
    try {
      assert.deepEqual([...store.meterStates().keys()], [B]);
      assert.equal(store.size().entries, 1, "undelivered readings stay");
    } finally {
      store.close();
    }
  });
});

Deno.test("no outbox file: nothing to do, and none is created", () => {
  inTempDir((dir) => {
    assert.deepEqual(resetMeterHistory(configIn(dir), A), {
      outcome: "none",
      path: `${dir}/outbox.sqlite`,
    });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("with outbox.enabled: false nothing is stored", () => {
  inTempDir((dir) => {
    assert.deepEqual(resetMeterHistory(configIn(dir, "outbox: { enabled: false }\n"), A), {
      outcome: "not_stored",
    });
  });
});

Deno.test("while a bridge holds the outbox: refused as in use, and nothing changes", () => {
  inTempDir((dir) => {
    const path = `${dir}/outbox.sqlite`;
    storeStates(path, [[A, "{}"]]);
    const running = new SqliteOutboxStore(path);
    try {
      assert.throws(
        () => resetMeterHistory(configIn(dir), A),
        (error: Error) =>
          error instanceof OutboxInUseError &&
          error.message === `${path} is in use by another bridge process; each bridge needs ` +
              "its own state_dir",
      );
    } finally {
      running.close();
    }
    assert.deepEqual(resetMeterHistory(configIn(dir), A).outcome, "forgotten");
  });
});
