/**
 * Workers die with their supervisor: a supervisor killed by SIGKILL runs no
 * cleanup, and its real workers (src/worker_main.ts) must still exit within
 * seconds instead of living on with PPID 1.
 */
import assert from "node:assert/strict";
import { createTestDb } from "./_db.ts";
import { spawnDeno, waitFor } from "./_process.ts";

/** Fields of /proc/<pid>/stat after the command name: state, ppid, ... */
async function procStat(pid: number): Promise<string[] | undefined> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  // The command name is in parentheses and may hold spaces.
  return stat ? stat.slice(stat.lastIndexOf(")") + 2).split(" ") : undefined;
}

/** The live child processes of `parent` (a scan of /proc, Linux only). */
async function childrenOf(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = await procStat(Number(entry.name));
    if (fields && Number(fields[1]) === parent) pids.push(Number(entry.name));
  }
  return pids;
}

/** False once `pid` has exited; a zombie not yet reaped has exited. */
async function isRunning(pid: number): Promise<boolean> {
  const state = (await procStat(pid))?.[0];
  return state !== undefined && state !== "Z" && state !== "X";
}

Deno.test({
  name: "workers exit within seconds when their supervisor is SIGKILLed",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const tdb = await createTestDb();
    const supervisor = spawnDeno(
      ["run", "--allow-all", "src/supervisor_main.ts"],
      {
        DATABASE_URL: tdb.url,
        DATA_DIR: tdb.dataDir,
        WORKERS: "2",
        FNGD_BACKEND: "cpu",
      },
    );
    let workers: number[] = [];
    try {
      const started = () =>
        (supervisor.output().match(/\] started \(backend/g) ?? []).length;
      await waitFor(
        () => Promise.resolve(started() >= 2 ? true : undefined),
        60_000,
        "two workers to start",
        100,
      );
      workers = await childrenOf(supervisor.child.pid);
      assert.equal(workers.length, 2, supervisor.output());

      supervisor.child.kill("SIGKILL");
      await supervisor.child.status;
      const killedAt = performance.now();
      await waitFor(
        async () => {
          const alive = await Promise.all(workers.map(isRunning));
          return alive.some(Boolean) ? undefined : true;
        },
        5000,
        `workers ${workers.join(", ")} to exit after their supervisor`,
        100,
      ).catch((err) => {
        throw new Error(`${err.message}; output:\n${supervisor.output()}`);
      });
      const ms = performance.now() - killedAt;
      assert.match(supervisor.output(), /supervisor gone/);
      console.log(`workers exited ${ms.toFixed(0)} ms after the supervisor`);
    } finally {
      // Orphans of a failed run: these pids are this test's grandchildren.
      for (const pid of workers) {
        if (await isRunning(pid)) Deno.kill(pid, "SIGKILL");
      }
      await supervisor.stop("SIGKILL"); // collects the output pumps
      await tdb.close();
    }
  },
});
