/**
 * One process per DATA_DIR. Two embedded PGlite instances on the same files
 * corrupt them silently (jobs lost, an index disagreeing with its table):
 * PGlite's Node file system takes no lock of its own, and nothing like a
 * server's postmaster.pid check runs. So `deno task start` holds an
 * exclusive flock on `<DATA_DIR>/.lock` while the database is open. The OS
 * drops a flock when its process dies, however it dies, so a stale file
 * left by a killed process never blocks the next start; the pid written in
 * the file only names the holder in the error.
 */

/** The name of the lock file inside the data directory. */
export const LOCK_FILE = ".lock";

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    /** The holder's pid, when its lock file says. */
    readonly holderPid: number | undefined,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another process (pid ${
        holderPid ?? "unknown"
      }); two processes on one embedded database corrupt it. ` +
        "Stop that process, or give this one another DATA_DIR",
    );
    this.name = "DataDirLockedError";
  }
}

/** A held lock. */
export interface DataDirLock {
  /** Gives the lock up (exiting does too). */
  release(): void;
}

/**
 * Takes the lock on `dataDir` (created if missing) without waiting, and
 * writes this process's pid into the lock file.
 * @throws {DataDirLockedError} when another process holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await Deno.mkdir(dataDir, { recursive: true });
  const path = `${dataDir}/${LOCK_FILE}`;
  // Opened without truncating: the holder's pid must survive our attempt.
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    file.close();
    const pid = Number.parseInt(await Deno.readTextFile(path), 10);
    throw new DataDirLockedError(dataDir, Number.isNaN(pid) ? undefined : pid);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      file.close(); // closing the descriptor drops the flock
    },
  };
}
