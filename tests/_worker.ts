/** Worker-process helpers shared by the worker tests. */
import { getJob, isTerminalStatus, type JobRow } from "../db/mod.ts";
import type { TestDb } from "./_db.ts";
import { spawnDeno, type Spawned, waitFor } from "./_process.ts";

/**
 * A real worker process on `t` (wasm backend, 2 s lease, `t`'s DATA_DIR and
 * so its blob store, unless `env` says otherwise).
 */
export function startWorker(
  t: TestDb,
  env: Record<string, string> = {},
): Spawned {
  return spawnDeno(["run", "-A", "src/worker_main.ts"], {
    DATABASE_URL: t.url,
    DATA_DIR: t.dataDir,
    LEASE_SECONDS: "2",
    FNGD_BACKEND: "wasm",
    ...env,
  });
}

/** Resolves with tenant `t`'s job `id` once it is terminal. */
export function untilTerminal(
  t: TestDb,
  id: string,
  timeoutMs: number,
): Promise<JobRow> {
  return waitFor<JobRow>(
    async () => {
      const job = await getJob(t.db, "t", id);
      return job && isTerminalStatus(job.status) ? job : undefined;
    },
    timeoutMs,
    `job ${id} to finish`,
  );
}
