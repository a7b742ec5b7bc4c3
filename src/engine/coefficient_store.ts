/** The default coefficient store: a Map, for the CLI and tests. */
import type { CoefficientStore } from "./types.ts";

/** Keeps coefficients in memory; `flush` has nothing to do. */
export class MemoryCoefficientStore implements CoefficientStore {
  readonly entries = new Map<
    string,
    { coefficients: Float32Array; damping: number }
  >();

  get(batch: number, layer: number): Promise<Float32Array | undefined> {
    return Promise.resolve(this.entries.get(`${batch}:${layer}`)?.coefficients);
  }

  put(
    batch: number,
    layer: number,
    coefficients: Float32Array,
    damping: number,
  ): Promise<void> {
    this.entries.set(`${batch}:${layer}`, { coefficients, damping });
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}
