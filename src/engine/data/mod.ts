/** Datasets for the engine: IDX and CSV parsing, and seeded synthetic data. */
export * from "./idx.ts";
export * from "./csv.ts";
export * from "./synthetic.ts";
