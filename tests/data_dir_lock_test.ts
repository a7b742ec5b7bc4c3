/**
 * One `deno task start` per DATA_DIR: a second one on the same embedded
 * database exits at once and names the holder, and a holder killed with
 * SIGKILL (its lock file left behind) does not block the next start.
 */
import assert from "node:assert/strict";
import { LOCK_FILE } from "../src/data_dir_lock.ts";
import { spawnDeno, type Spawned } from "./_process.ts";

/** The exit status, or undefined if still running after `ms`. */
async function exitWithin(
  p: Spawned,
  ms: number,
): Promise<Deno.CommandStatus | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    p.child.status,
    new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
  ]);
  clearTimeout(timer);
  return status;
}

Deno.test({
  name:
    "a second start on one DATA_DIR exits at once naming the holder's pid; a killed holder does not block the next",
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "fngd_lock_" });
    const start = () =>
      spawnDeno(["run", "--allow-all", "src/main.ts"], {
        DATABASE_URL: "", // unset: embedded PGlite in DATA_DIR
        DATA_DIR: dataDir,
        HOST: "127.0.0.1",
        PORT: "0",
        WORKERS: "0",
        API_KEYS: "lock-test:t",
      });
    const listening = (p: Spawned) =>
      p.waitForLine((l) => l.startsWith("listening on http://"), 120_000);
    const spawned: Spawned[] = [];
    try {
      const first = start();
      spawned.push(first);
      await listening(first);

      const second = start();
      spawned.push(second);
      const startedAt = performance.now();
      const status = await exitWithin(second, 15_000);
      const ms = performance.now() - startedAt;
      assert.ok(
        status,
        `the second start is still running after 15 s:\n${second.output()}`,
      );
      await second.stop(); // collects its output
      assert.notEqual(status.code, 0, second.output());
      assert.match(second.output(), new RegExp(`pid ${first.child.pid}\\b`));
      console.log(
        `second start exited ${status.code} after ${ms.toFixed(0)} ms`,
      );

      await first.stop("SIGKILL");
      assert.match(
        await Deno.readTextFile(`${dataDir}/${LOCK_FILE}`),
        new RegExp(`^${first.child.pid}\\b`),
        "the killed holder's lock file is still there",
      );
      const third = start();
      spawned.push(third);
      await listening(third);
      assert.match(
        await Deno.readTextFile(`${dataDir}/${LOCK_FILE}`),
        new RegExp(`^${third.child.pid}\\b`),
      );
      const stopped = await third.stop("SIGTERM");
      assert.equal(stopped.code, 0, third.output());
    } finally {
      for (const p of spawned) await p.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
