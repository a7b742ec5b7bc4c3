/** The default coefficient store: a Map, for the CLI and tests. */
import type { CoefficientEntry, CoefficientStore } from "./types.ts";

/** Keeps every entry in memory, per (batch, layer) in epoch order; `flush` has nothing to do. */
export class MemoryCoefficientStore implements CoefficientStore {
  readonly entries = new Map<
    string,
    (CoefficientEntry & { lambda: number })[]
  >();

  get(
    batch: number,
    layer: number,
    epoch: number,
  ): Promise<CoefficientEntry | undefined> {
    const history = this.entries.get(`${batch}:${layer}`) ?? [];
    return Promise.resolve(history.findLast((e) => e.epoch < epoch));
  }

  put(
    batch: number,
    layer: number,
    entry: CoefficientEntry,
    lambda: number,
  ): Promise<void> {
    const key = `${batch}:${layer}`;
    const kept = (this.entries.get(key) ?? []).filter((e) =>
      e.epoch !== entry.epoch
    );
    kept.push({ ...entry, lambda });
    kept.sort((a, b) => a.epoch - b.epoch);
    this.entries.set(key, kept);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}
