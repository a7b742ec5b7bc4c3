/** `deno task sdk`: writes sdk/schema.ts from openapi.yaml. */
import { renderSdkSchema, SDK_SCHEMA } from "./sdk_schema.ts";

await Deno.writeTextFile(SDK_SCHEMA, await renderSdkSchema());
console.log(`wrote ${SDK_SCHEMA.pathname}`);
