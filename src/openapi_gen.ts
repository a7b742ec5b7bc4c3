/** `deno task openapi`: writes openapi.yaml from the app's own routes. */
import { OPENAPI_YAML, renderOpenApiYaml } from "./openapi_yaml.ts";

await Deno.writeTextFile(OPENAPI_YAML, await renderOpenApiYaml());
console.log(`wrote ${OPENAPI_YAML.pathname}`);
