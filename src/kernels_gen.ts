/**
 * `deno task kernels`: compiles the engine's AssemblyScript kernels and
 * writes their base64 modules (src/kernel_build.ts). `--check` compiles and
 * fails when a committed module is stale.
 */
import { compileKernel, kernelModule, KERNELS } from "./kernel_build.ts";

const check = Deno.args.includes("--check");
let stale = 0;
for (const k of KERNELS) {
  const text = kernelModule(
    k.source,
    k.constant,
    await compileKernel(k.source),
  );
  if (check) {
    const committed = await Deno.readTextFile(k.module).catch(() => "");
    if (committed !== text) {
      stale++;
      console.error(`${k.module} is stale: run deno task kernels`);
    }
  } else {
    await Deno.writeTextFile(k.module, text);
    console.log(`wrote ${k.module}`);
  }
}
if (stale > 0) Deno.exit(1);
