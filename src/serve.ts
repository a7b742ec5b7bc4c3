/**
 * `deno serve src/serve.ts`: the API alone under `deno serve`, which takes
 * HOST and PORT from its own flags. Built at start, so that a bad
 * environment stops the server at once, not at the first request.
 */
import { createAppFromEnv } from "./api_app.ts";

const { app } = await createAppFromEnv();

export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
