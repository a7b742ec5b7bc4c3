/**
 * Workers die with their supervisor. A supervisor killed by SIGKILL (or the
 * OOM killer) runs no cleanup, and its workers used to live on with PPID 1,
 * polling a dead port and holding their memory. So the supervisor gives
 * each worker a stdin pipe it never writes to: the kernel closes the write
 * end when the supervisor exits, however it exits, and the worker reads EOF.
 * Only a worker told so by the environment watches, so `deno task worker`
 * run by hand (stdin a terminal, or /dev/null) is left alone.
 */

/** Set to "1" in a worker's environment when its stdin is the supervisor's pipe. */
export const PARENT_PIPE_ENV = "FNGD_PARENT_PIPE";

/**
 * Calls `onParentGone` once, when stdin reaches EOF, if PARENT_PIPE_ENV says
 * stdin is the supervisor's pipe; otherwise does nothing.
 */
export function watchParentPipe(onParentGone: () => void): void {
  if (Deno.env.get(PARENT_PIPE_ENV) !== "1") return;
  (async () => {
    try {
      // The supervisor never writes; anything read is ignored all the same.
      for await (const _ of Deno.stdin.readable) { /* until EOF */ }
    } catch { /* a broken pipe means the same thing */ }
    onParentGone();
  })();
}
