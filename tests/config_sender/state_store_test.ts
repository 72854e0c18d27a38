import assert from "node:assert/strict";
import { type ConfigSenderState, emptyState } from "../../src/config_sender/meter_state.ts";
import { STATE_FILE, StateStore } from "../../src/config_sender/state_store.ts";
import { exists, withTempDir } from "../helpers/files.ts";

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

function sampleState(seconds = 60): ConfigSenderState {
  return {
    version: 1,
    meters: {
      ["33B1225950027" as keyof ConfigSenderState["meters"]]: {
        configured: {
          day: "20260112",
          settings: { upload_interval_seconds: seconds, upload_interval_minutes: 15 },
          at: "2026-01-12T10:00:00.000Z",
        },
        clock_set_at: "2026-01-12T10:00:01.000Z",
      },
      ["33B1225950028" as keyof ConfigSenderState["meters"]]: {
        last_failure: {
          command: "minutes interval 15 min",
          oprid: "0".repeat(31) + "2",
          reason: "meter replied code 02",
          at: "2026-01-12T09:00:00.000Z",
        },
      },
    },
  };
}

Deno.test("the state file is config-sender.json inside state_dir", () => {
  assert.equal(STATE_FILE, "config-sender.json");
  assert.equal(new StateStore("/var/lib/kpm33b").path, "/var/lib/kpm33b/config-sender.json");
});

Deno.test("a missing state file loads as an empty state", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await new StateStore(dir).load(), emptyState());
    assert.deepEqual(await new StateStore(`${dir}/absent`).load(), emptyState());
  });
});

Deno.test("a saved state loads back unchanged", async () => {
  await withTempDir(async (dir) => {
    const state = sampleState();
    await new StateStore(dir).save(state);
    assert.deepEqual(await new StateStore(dir).load(), state);
  });
});

Deno.test("an empty state round-trips", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    await store.save(emptyState());
    assert.deepEqual(await store.load(), { version: 1, meters: {} });
  });
});

Deno.test("saving creates a missing state_dir, including parents", async () => {
  await withTempDir(async (dir) => {
    const stateDir = `${dir}/nested/state`;
    const store = new StateStore(stateDir);
    await store.save(sampleState());
    assert.equal(await exists(`${stateDir}/${STATE_FILE}`), true);
    assert.deepEqual(await store.load(), sampleState());
  });
});

Deno.test("a corrupt state file loads as an empty state", async () => {
  await withTempDir(async (dir) => {
    for (const text of ["{ not json", "", '{"version":1,"meters":{', "\u0000\u0001"]) {
      await Deno.writeTextFile(`${dir}/${STATE_FILE}`, text);
      assert.deepEqual(await new StateStore(dir).load(), emptyState(), JSON.stringify(text));
    }
  });
});

Deno.test("valid JSON of the wrong shape loads as an empty state", async () => {
  await withTempDir(async (dir) => {
    const wrong = [
      null,
      [],
      42,
      "state",
      {},
      { version: 2, meters: {} },
      { version: 1 },
      { version: 1, meters: { "not-a-meter": {} } },
      { version: 1, meters: { "33B1225950027": { configured: { day: "2026-01-12" } } } },
    ];
    for (const value of wrong) {
      await Deno.writeTextFile(`${dir}/${STATE_FILE}`, JSON.stringify(value));
      assert.deepEqual(await new StateStore(dir).load(), emptyState(), JSON.stringify(value));
    }
  });
});

Deno.test("an unreadable state path loads as an empty state", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/${STATE_FILE}`);
    assert.deepEqual(await new StateStore(dir).load(), emptyState());
  });
});

Deno.test("no temporary file remains after a save", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    await store.save(sampleState());
    await store.save(sampleState(30));
    assert.deepEqual(await entries(dir), [STATE_FILE]);
    assert.equal(await exists(`${store.path}.tmp`), false);
  });
});

Deno.test("a save replaces the previous state", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    await store.save(sampleState(60));
    await store.save(emptyState());
    assert.deepEqual(await store.load(), emptyState());
  });
});

Deno.test("many concurrent saves end with the last state on disk", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    const intervals = [30, 60, 300, 600, 900, 1200, 1800, 3600];
    const saves: Promise<void>[] = [];
    for (let round = 0; round < 5; round++) {
      for (const seconds of intervals) saves.push(store.save(sampleState(seconds)));
    }
    saves.push(store.save(sampleState(300)));
    await Promise.all(saves);
    assert.deepEqual(await store.load(), sampleState(300));
    assert.deepEqual(await entries(dir), [STATE_FILE]);
  });
});

Deno.test("a save captures the state at call time, not at write time", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    const state = sampleState(60);
    const saved = store.save(state);
    state.meters = {};
    await saved;
    assert.deepEqual(await store.load(), sampleState(60));
  });
});

Deno.test("the state file is pretty-printed JSON", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir);
    const state = sampleState();
    await store.save(state);
    const text = await Deno.readTextFile(store.path);
    assert.equal(text, JSON.stringify(state, null, 2));
    assert.deepEqual(JSON.parse(text), state);
    assert.ok(text.includes('\n  "version": 1,\n'), text);
  });
});

Deno.test("a failed write is not thrown, and later saves still succeed", async () => {
  await withTempDir(async (dir) => {
    const blocked = `${dir}/blocked`;
    // A regular file where the state directory should be: mkdir fails.
    await Deno.writeTextFile(blocked, "");
    const store = new StateStore(blocked);
    await store.save(sampleState());
    assert.equal(await Deno.readTextFile(blocked), "");

    await Deno.remove(blocked);
    await store.save(sampleState(30));
    assert.deepEqual(await store.load(), sampleState(30));
  });
});

Deno.test("saves during a write go out one pause later, together; flush skips the pause", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir, 300);
    const started = performance.now();
    await store.save(sampleState(30));
    const first = performance.now() - started;
    const second = store.save(sampleState(60));
    const third = store.save(sampleState(300));
    assert.equal(second, third, "the two saves are one write");
    await third;
    const paused = performance.now() - started;
    assert.deepEqual(await store.load(), sampleState(300));
    assert.ok(paused - first >= 250, `the coalesced write waited ${paused - first} ms`);

    const before = performance.now();
    const writing = store.save(sampleState(600));
    const flushed = store.flush(sampleState(900));
    await flushed;
    await writing;
    assert.ok(performance.now() - before < 300, "flush did not wait for the pause");
    assert.deepEqual(await store.load(), sampleState(900));
  });
});

Deno.test("saves one after another are written at most once per interval", async () => {
  await withTempDir(async (dir) => {
    const store = new StateStore(dir, 300);
    await store.save(sampleState(30));
    const started = performance.now();
    await store.save(sampleState(60));
    assert.ok(performance.now() - started >= 250, "the second write waited for the interval");
    assert.deepEqual(await store.load(), sampleState(60));
  });
});
