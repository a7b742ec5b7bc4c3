/**
 * Dataset layer: IDX and CSV parsing, seeded synthetic data, and resolving
 * dataset specs to files on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type IdxArray,
  idxToDataset,
  makeSyntheticDataset,
  parseCsvDataset,
  parseIdx,
  type SyntheticSpec,
} from "../src/engine/data/mod.ts";
import { type Dataset, EngineError } from "../src/engine/types.ts";
import { resolveDataset } from "../workers/resolve_dataset.ts";

// ---------------------------------------------------------------- fixtures

const TYPE_SIZE: Record<number, number> = {
  0x08: 1,
  0x09: 1,
  0x0b: 2,
  0x0c: 4,
  0x0d: 4,
  0x0e: 8,
};

/** A minimal IDX writer, independent of the parser under test. */
function encodeIdx(type: number, dims: number[], values: number[]): Uint8Array {
  const size = TYPE_SIZE[type];
  const header = 4 + 4 * dims.length;
  const bytes = new Uint8Array(header + size * values.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = type;
  bytes[3] = dims.length;
  dims.forEach((d, i) => view.setInt32(4 + 4 * i, d));
  values.forEach((v, i) => {
    const at = header + size * i;
    if (type === 0x08) view.setUint8(at, v);
    else if (type === 0x09) view.setInt8(at, v);
    else if (type === 0x0b) view.setInt16(at, v);
    else if (type === 0x0c) view.setInt32(at, v);
    else if (type === 0x0d) view.setFloat32(at, v);
    else view.setFloat64(at, v);
  });
  return bytes;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `n` 2x3 byte images whose pixels are `(sample * 7 + pixel) % 256`, labels `i % 3`. */
function imageFixture(n: number): { images: Uint8Array; labels: Uint8Array } {
  const pixels = Array.from({ length: n * 6 }, (_, i) => {
    const sample = Math.floor(i / 6);
    return (sample * 7 + (i % 6)) % 256;
  });
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  return {
    images: encodeIdx(0x08, [n, 2, 3], pixels),
    labels: encodeIdx(0x08, [n], labels),
  };
}

function u8(dims: number[], values: number[]): IdxArray {
  return { dims, data: Uint8Array.from(values) };
}

/** Asserts that `fn` rejects with an EngineError of `code` whose message matches. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

function throwsWith(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

// ---------------------------------------------------------------- IDX

Deno.test("parseIdx decodes every element type big-endian", async (t) => {
  const cases: [string, number, number[], unknown][] = [
    ["unsigned byte", 0x08, [0, 1, 255], Uint8Array],
    ["signed byte", 0x09, [-128, 0, 127], Int8Array],
    ["short", 0x0b, [-32768, 258, 32767], Int16Array],
    ["int", 0x0c, [-2147483648, 16909060, 2147483647], Int32Array],
    ["float", 0x0d, [-1.5, 0.25, 2 ** 100], Float32Array],
    ["double", 0x0e, [-1e300, Math.PI, 5e-324], Float64Array],
  ];
  for (const [name, type, values, ctor] of cases) {
    await t.step(name, async () => {
      const parsed = await parseIdx(encodeIdx(type, [3], values));
      assert.deepEqual(parsed.dims, [3]);
      assert.ok(parsed.data instanceof (ctor as typeof Uint8Array));
      assert.deepEqual([...parsed.data], values);
    });
  }
});

Deno.test("parseIdx reads multi-dimensional files in row-major order", async () => {
  const { images } = imageFixture(2);
  const parsed = await parseIdx(images);
  assert.deepEqual(parsed.dims, [2, 2, 3]);
  assert.deepEqual([...parsed.data], [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
});

Deno.test("parseIdx inflates gzipped files to the same contents", async () => {
  const raw = encodeIdx(0x0c, [2, 2], [1, -2, 3, -4]);
  const parsed = await parseIdx(await gzip(raw));
  assert.deepEqual(parsed.dims, [2, 2]);
  assert.deepEqual([...parsed.data], [1, -2, 3, -4]);
});

Deno.test("parseIdx accepts a file with zero samples", async () => {
  const parsed = await parseIdx(encodeIdx(0x08, [0, 28, 28], []));
  assert.deepEqual(parsed.dims, [0, 28, 28]);
  assert.equal(parsed.data.length, 0);
});

Deno.test("parseIdx rejects corrupt files with invalid_data", async (t) => {
  const good = encodeIdx(0x08, [2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const gz = await gzip(good);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /expected at least 4 bytes, found 0/],
    [
      "bad magic",
      Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0),
      /expected 00 00 <type> <ndims>, found 50 4b 03 04/,
    ],
    [
      "unknown type",
      Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 0),
      /element type 0x0a: expected one of/,
    ],
    ["no dimensions", Uint8Array.of(0, 0, 8, 0), /0 dimensions/],
    [
      "truncated header",
      good.slice(0, 9),
      /2 dimensions need 12 bytes, found 9/,
    ],
    [
      "negative dimension",
      encodeIdx(0x08, [-1], []),
      /dimension 0 is negative: -1/,
    ],
    [
      "truncated data",
      good.slice(0, good.length - 1),
      /truncated IDX data: dims \[2, 5\].*need 10 bytes, found 9/,
    ],
    [
      "trailing garbage",
      Uint8Array.of(...good, 0xde, 0xad),
      /trailing bytes after IDX data: .*need 10 bytes, found 12/,
    ],
    [
      "dims that do not match the body",
      encodeIdx(0x0c, [3], [1, 2]),
      /need 12 bytes, found 8/,
    ],
    [
      "corrupt gzip",
      gz.map((b, i) => i === gz.length - 6 ? b ^ 0xff : b),
      /corrupt gzip data/,
    ],
    ["truncated gzip", gz.slice(0, gz.length - 4), /corrupt gzip data/],
    ["bytes after gzip", Uint8Array.of(...gz, 1, 2, 3), /corrupt gzip data/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, async () => {
      await rejectsWith(() => parseIdx(bytes), "invalid_data", message);
    });
  }
});

Deno.test("parseIdx refuses gzip that inflates past maxBytes", async () => {
  const gz = await gzip(encodeIdx(0x08, [4096], new Array(4096).fill(0)));
  await rejectsWith(
    () => parseIdx(gz, { maxBytes: 1000 }),
    "invalid_data",
    /inflates past the limit of 1000 bytes/,
  );
});

Deno.test("idxToDataset scales byte images to [0, 1] and adds a channel", () => {
  const images = u8([2, 2, 2], [0, 51, 102, 255, 1, 2, 3, 4]);
  const labels = u8([2], [4, 1]);
  const d = idxToDataset(images, labels);
  assert.deepEqual(d.sampleShape, [2, 2, 1]);
  const pixels = [0, 51, 102, 255, 1, 2, 3, 4];
  assert.deepEqual([...d.x], pixels.map((v) => Math.fround(v / 255)));
  assert.equal(d.x[1], Math.fround(0.2));
  assert.deepEqual([...d.y], [4, 1]);
  assert.equal(d.classes, 5);
  assert.equal(d.test, undefined);
});

Deno.test("idxToDataset keeps 2-D and 4-D sample shapes", () => {
  const labels = u8([2], [0, 1]);
  assert.deepEqual(
    idxToDataset(u8([2, 3], [0, 0, 0, 0, 0, 0]), labels).sampleShape,
    [3],
  );
  assert.deepEqual(
    idxToDataset(u8([2, 1, 2, 3], new Array(12).fill(0)), labels).sampleShape,
    [1, 2, 3],
  );
});

Deno.test("idxToDataset gives at least two classes", () => {
  const d = idxToDataset(u8([2, 1, 1], [0, 0]), u8([2], [0, 0]));
  assert.equal(d.classes, 2);
});

Deno.test("idxToDataset scales non-byte images by the training range", () => {
  const images: IdxArray = {
    dims: [2, 2],
    data: Int16Array.of(-100, 100, 0, 50),
  };
  const test: IdxArray = { dims: [1, 2], data: Int16Array.of(-100, 300) };
  const d = idxToDataset(images, u8([2], [0, 1]), test, u8([1], [1]));
  assert.deepEqual([...d.x], [0, 1, 0.5, 0.75]);
  // The test split uses the training range, so values may fall outside [0, 1].
  assert.deepEqual([...d.test!.x], [0, 2]);
});

Deno.test("idxToDataset attaches the test split and counts its labels", () => {
  const d = idxToDataset(
    u8([2, 1, 1], [0, 255]),
    u8([2], [0, 1]),
    u8([1, 1, 1], [255]),
    u8([1], [6]),
  );
  assert.deepEqual([...d.test!.x], [1]);
  assert.deepEqual([...d.test!.y], [6]);
  assert.equal(d.classes, 7);
});

Deno.test("idxToDataset limit keeps the first training samples only", () => {
  const d = idxToDataset(
    u8([3, 1, 1], [0, 255, 51]),
    u8([3], [0, 1, 2]),
    u8([2, 1, 1], [0, 0]),
    u8([2], [0, 0]),
    { limit: 2 },
  );
  assert.deepEqual([...d.x], [0, 1]);
  assert.deepEqual([...d.y], [0, 1]);
  assert.equal(d.test!.y.length, 2);
  assert.equal(d.classes, 3);
});

Deno.test("idxToDataset rejects inconsistent files", async (t) => {
  const images = u8([2, 1, 1], [0, 0]);
  const labels = u8([2], [0, 1]);
  const cases: [string, () => Dataset, RegExp][] = [
    [
      "count mismatch",
      () => idxToDataset(images, u8([3], [0, 1, 2])),
      /2 images but 3 labels/,
    ],
    [
      "2-D labels",
      () => idxToDataset(images, u8([2, 1], [0, 1])),
      /labels must be 1-D, found dims \[2, 1\]/,
    ],
    [
      "negative label",
      () => idxToDataset(images, { dims: [2], data: Int8Array.of(0, -1) }),
      /label 1 must be a non-negative integer, found -1/,
    ],
    [
      "fractional label",
      () => idxToDataset(images, { dims: [2], data: Float32Array.of(0, 0.5) }),
      /found 0.5/,
    ],
    [
      "1-D images",
      () => idxToDataset(u8([2], [0, 0]), labels),
      /2 to 4 dimensions.*found \[2\]/,
    ],
    [
      "test images without labels",
      () => idxToDataset(images, labels, images),
      /found only images/,
    ],
    [
      "test shape mismatch",
      () => idxToDataset(images, labels, u8([1, 2, 1], [0, 0]), u8([1], [0])),
      /test images are 2x1x1 but training images are 1x1x1/,
    ],
    [
      "test count mismatch",
      () => idxToDataset(images, labels, images, u8([1], [0])),
      /test images and labels disagree: 2 images but 1 labels/,
    ],
  ];
  for (const [name, fn, message] of cases) {
    await t.step(name, () => throwsWith(fn, "invalid_data", message));
  }
});

// ---------------------------------------------------------------- CSV

Deno.test("parseCsvDataset reads features and labels by column name", () => {
  const text = "a,label,b\r\n0.5,2,-1\r\n1e-1,0,+3\r\n.25,1,4.\r\n";
  const d = parseCsvDataset(text, { labelColumn: "label" });
  assert.deepEqual(d.sampleShape, [2]);
  assert.deepEqual([...d.x], [0.5, -1, 0.1, 3, 0.25, 4].map(Math.fround));
  assert.deepEqual([...d.y], [2, 0, 1]);
  assert.equal(d.classes, 3);
});

Deno.test("parseCsvDataset applies a shape whose product is the feature count", () => {
  const text = "p0,p1,p2,p3,y\n1,2,3,4,0\n";
  const d = parseCsvDataset(text, { labelColumn: "y", shape: [2, 2, 1] });
  assert.deepEqual(d.sampleShape, [2, 2, 1]);
  assert.equal(d.classes, 2);
  throwsWith(
    () => parseCsvDataset(text, { labelColumn: "y", shape: [3, 1] }),
    "invalid_data",
    /shape \[3, 1\] holds 3 values but the CSV has 4 feature columns/,
  );
});

Deno.test("parseCsvDataset rejects bad files naming line and column", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["empty file", "", /empty CSV file/],
    ["only blank lines", "\r\n\n", /empty CSV file/],
    ["header only", "x,label\n", /no data rows/],
    [
      "missing label column",
      "x,y\n1,2\n",
      /line 1: label column "label" not found; header has "x", "y"/,
    ],
    [
      "duplicate label column",
      "label,label\n1,2\n",
      /appears more than once/,
    ],
    ["no features", "label\n1\n", /expected feature columns/],
    [
      "ragged row",
      "x,label\n1,0\n2\n",
      /line 3: expected 2 columns, found 1/,
    ],
    [
      "non-numeric cell",
      "x,label\n1,0\nabc,1\n",
      /line 3, column 1 \("x"\): expected a number, found "abc"/,
    ],
    ["empty cell", "x,label\n,0\n", /line 2, column 1 .*found ""/],
    ["hex cell", "x,label\n0x10,0\n", /found "0x10"/],
    ["non-finite cell", "x,label\n1e999,0\n", /float32 range, found "1e999"/],
    [
      "non-integer label",
      "x,label\n1,0.5\n",
      /line 2, column 2 \("label"\): expected a non-negative integer label, found "0.5"/,
    ],
    ["negative label", "x,label\n1,-1\n", /non-negative integer label/],
    [
      "quoted field",
      'x,label\n"1",0\n',
      /line 2, character 1: quoted fields are not supported/,
    ],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, () =>
      throwsWith(
        () => parseCsvDataset(text, { labelColumn: "label" }),
        "invalid_data",
        message,
      ));
  }
});

// ---------------------------------------------------------------- synthetic

function synthetic(over: Partial<SyntheticSpec> = {}): SyntheticSpec {
  return {
    name: "synthetic",
    samples: 600,
    classes: 10,
    seed: 1,
    test_samples: 0,
    ...over,
  };
}

function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Accuracy on the test split of classifying by the nearest training class mean. */
function nearestMeanAccuracy(d: Dataset): number {
  const f = d.x.length / d.y.length;
  const means = new Float64Array(d.classes * f);
  const counts = new Float64Array(d.classes);
  d.y.forEach((c, i) => {
    counts[c]++;
    for (let j = 0; j < f; j++) means[c * f + j] += d.x[i * f + j];
  });
  for (let c = 0; c < d.classes; c++) {
    for (let j = 0; j < f; j++) means[c * f + j] /= counts[c];
  }
  let correct = 0;
  const test = d.test!;
  test.y.forEach((label, i) => {
    let best = -1;
    let bestDist = Infinity;
    for (let c = 0; c < d.classes; c++) {
      let dist = 0;
      for (let j = 0; j < f; j++) {
        dist += (test.x[i * f + j] - means[c * f + j]) ** 2;
      }
      if (dist < bestDist) [best, bestDist] = [c, dist];
    }
    if (best === label) correct++;
  });
  return correct / test.y.length;
}

Deno.test("makeSyntheticDataset is fully determined by the seed", () => {
  const a = makeSyntheticDataset(synthetic({ test_samples: 50 }));
  const b = makeSyntheticDataset(synthetic({ test_samples: 50 }));
  assert.deepEqual(bytesOf(a.x), bytesOf(b.x));
  assert.deepEqual(bytesOf(a.y), bytesOf(b.y));
  assert.deepEqual(bytesOf(a.test!.x), bytesOf(b.test!.x));
  const c = makeSyntheticDataset(synthetic({ seed: 2, test_samples: 50 }));
  assert.notDeepEqual(bytesOf(a.x), bytesOf(c.x));
  assert.notDeepEqual(bytesOf(a.y), bytesOf(c.y));
});

Deno.test("makeSyntheticDataset shapes vectors and images as asked", async (t) => {
  await t.step("default 64 features", () => {
    const d = makeSyntheticDataset(synthetic());
    assert.deepEqual(d.sampleShape, [64]);
    assert.equal(d.x.length, 600 * 64);
    assert.equal(d.y.length, 600);
    assert.equal(d.classes, 10);
    assert.equal(d.test, undefined);
  });
  await t.step("features", () => {
    const d = makeSyntheticDataset(synthetic({ features: 5, classes: 3 }));
    assert.deepEqual(d.sampleShape, [5]);
    assert.equal(d.x.length, 600 * 5);
    assert.ok(d.y.every((v) => v >= 0 && v < 3));
  });
  await t.step("image shape", () => {
    const d = makeSyntheticDataset(synthetic({ shape: [8, 8, 2] }));
    assert.deepEqual(d.sampleShape, [8, 8, 2]);
    assert.equal(d.x.length, 600 * 128);
  });
});

Deno.test("makeSyntheticDataset labels are balanced", () => {
  const d = makeSyntheticDataset(synthetic({ samples: 1005 }));
  const counts = new Array(10).fill(0);
  for (const c of d.y) counts[c]++;
  assert.ok(counts.every((n) => n === 100 || n === 101), String(counts));
});

Deno.test("makeSyntheticDataset test split is separate and only when asked", () => {
  const d = makeSyntheticDataset(synthetic({ test_samples: 200 }));
  assert.equal(d.test!.x.length, 200 * 64);
  assert.equal(d.test!.y.length, 200);
  assert.notDeepEqual(
    bytesOf(d.test!.x),
    bytesOf(d.x.subarray(0, 200 * 64)),
  );
  // Asking for a test split leaves the training set as it was.
  const plain = makeSyntheticDataset(synthetic());
  assert.deepEqual(bytesOf(plain.x), bytesOf(d.x));
});

Deno.test("makeSyntheticDataset features have roughly unit variance", () => {
  const d = makeSyntheticDataset(synthetic({ samples: 2000 }));
  const mean = d.x.reduce((a, b) => a + b, 0) / d.x.length;
  const variance = d.x.reduce((a, b) => a + (b - mean) ** 2, 0) / d.x.length;
  assert.ok(Math.abs(mean) < 0.3, `mean ${mean}`);
  assert.ok(variance > 0.5 && variance < 2, `variance ${variance}`);
});

Deno.test("makeSyntheticDataset classes are learnable", async (t) => {
  const cases: [string, Partial<SyntheticSpec>][] = [
    ["vectors", {}],
    ["images", { shape: [8, 8, 1] }],
  ];
  for (const [name, over] of cases) {
    await t.step(name, () => {
      const d = makeSyntheticDataset(
        synthetic({ samples: 2000, test_samples: 500, ...over }),
      );
      const accuracy = nearestMeanAccuracy(d);
      // Chance is 0.1; a nearest-mean rule already does far better.
      assert.ok(accuracy > 0.75, `nearest-mean accuracy ${accuracy}`);
    });
  }
});

Deno.test("makeSyntheticDataset images are spatially smooth", () => {
  const d = makeSyntheticDataset(synthetic({ shape: [8, 8, 1] }));
  // Correlation across samples between horizontally adjacent pixels.
  const pairs: [number, number][] = [];
  for (let s = 0; s < d.y.length; s++) {
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 7; c++) {
        const at = s * 64 + r * 8 + c;
        pairs.push([d.x[at], d.x[at + 1]]);
      }
    }
  }
  const mean = (f: (p: [number, number]) => number) =>
    pairs.reduce((a, p) => a + f(p), 0) / pairs.length;
  const ma = mean((p) => p[0]);
  const mb = mean((p) => p[1]);
  const cov = mean((p) => (p[0] - ma) * (p[1] - mb));
  const corr = cov /
    Math.sqrt(mean((p) => (p[0] - ma) ** 2) * mean((p) => (p[1] - mb) ** 2));
  assert.ok(corr > 0.5, `adjacent-pixel correlation ${corr}`);
});

// ---------------------------------------------------------------- resolveDataset

async function withEnv<T>(
  name: string,
  value: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const old = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    return await fn();
  } finally {
    if (old === undefined) Deno.env.delete(name);
    else Deno.env.set(name, old);
  }
}

async function writeMnistFiles(dir: string, compress: boolean): Promise<void> {
  const train = imageFixture(5);
  const test = imageFixture(2);
  const files: [string, Uint8Array][] = [
    ["train-images-idx3-ubyte", train.images],
    ["train-labels-idx1-ubyte", train.labels],
    ["t10k-images-idx3-ubyte", test.images],
    ["t10k-labels-idx1-ubyte", test.labels],
  ];
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, bytes] of files) {
    await Deno.writeFile(
      join(dir, compress ? `${name}.gz` : name),
      compress ? await gzip(bytes) : bytes,
    );
  }
}

Deno.test("resolveDataset finds named IDX datasets", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "fngd_data_test_" });
  try {
    await t.step("gzipped files in dataDir", async () => {
      const dir = join(tmp, "gz");
      await writeMnistFiles(dir, true);
      const d = await resolveDataset({ name: "mnist" }, { dataDir: dir });
      assert.deepEqual(d.sampleShape, [2, 3, 1]);
      assert.equal(d.y.length, 5);
      assert.equal(d.classes, 3);
      assert.deepEqual([...d.y], [0, 1, 2, 0, 1]);
      assert.equal(d.x[7], Math.fround(8 / 255));
      assert.equal(d.test!.y.length, 2);
    });
    await t.step("plain files in a dataset subfolder, with limit", async () => {
      await writeMnistFiles(join(tmp, "plain", "fashion-mnist"), false);
      const d = await resolveDataset(
        { name: "fashion-mnist", limit: 3 },
        { dataDir: join(tmp, "plain") },
      );
      assert.equal(d.y.length, 3);
      assert.equal(d.test!.y.length, 2);
    });
    await t.step("FNGD_DATA_DIR", async () => {
      const d = await withEnv(
        "FNGD_DATA_DIR",
        join(tmp, "gz"),
        () => resolveDataset({ name: "mnist" }, {}),
      );
      assert.equal(d.y.length, 5);
    });
    await t.step("no test split without both t10k files", async () => {
      const dir = join(tmp, "no_test");
      await writeMnistFiles(dir, true);
      await Deno.remove(join(dir, "t10k-labels-idx1-ubyte.gz"));
      const d = await resolveDataset({ name: "mnist" }, { dataDir: dir });
      assert.equal(d.test, undefined);
    });
    await t.step("a corrupt file names its path", async () => {
      const dir = join(tmp, "corrupt");
      await writeMnistFiles(dir, false);
      await Deno.writeFile(
        join(dir, "train-labels-idx1-ubyte"),
        Uint8Array.of(1, 2, 3, 4),
      );
      await rejectsWith(
        () => resolveDataset({ name: "mnist" }, { dataDir: dir }),
        "invalid_data",
        /corrupt\/train-labels-idx1-ubyte: bad IDX magic/,
      );
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("resolveDataset reports missing named datasets with the places searched", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "fngd_data_test_" });
  try {
    const env = join(tmp, "env");
    await withEnv("FNGD_DATA_DIR", env, () =>
      rejectsWith(
        () => resolveDataset({ name: "mnist" }, { dataDir: tmp }),
        "data_not_found",
        new RegExp(
          `train-images-idx3-ubyte\\[\\.gz\\].* in ${tmp}/mnist, ${tmp}, ${env}/mnist, ${env}, /usr/share/datasets/mnist;.*--data-dir`,
        ),
      ));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

const SYSTEM_FASHION = "/usr/share/datasets/fashion-mnist";

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "resolveDataset suggests the Debian package for Fashion-MNIST",
  ignore: pathExists(SYSTEM_FASHION),
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "fngd_data_test_" });
    try {
      await withEnv("FNGD_DATA_DIR", undefined, () =>
        rejectsWith(
          () => resolveDataset({ name: "fashion-mnist" }, { dataDir: tmp }),
          "data_not_found",
          /apt-get install dataset-fashion-mnist.*--data-dir/,
        ));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("resolveDataset reads CSV and IDX paths relative to baseDir", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "fngd_data_test_" });
  try {
    await Deno.writeTextFile(
      join(tmp, "train.csv"),
      "x,y,label\n1,2,1\n3,4,0\n",
    );
    await writeMnistFiles(join(tmp, "idx"), true);
    await t.step("csv", async () => {
      const d = await resolveDataset(
        { format: "csv", path: "train.csv", label_column: "label" },
        { baseDir: tmp },
      );
      assert.deepEqual([...d.x], [1, 2, 3, 4]);
      assert.deepEqual([...d.y], [1, 0]);
    });
    await t.step("csv with an absolute path", async () => {
      const d = await resolveDataset(
        { format: "csv", path: join(tmp, "train.csv"), label_column: "label" },
        { baseDir: "/nonexistent" },
      );
      assert.equal(d.y.length, 2);
    });
    await t.step("csv errors name the file", async () => {
      await Deno.writeTextFile(join(tmp, "bad.csv"), "x,label\n1,a\n");
      await rejectsWith(
        () =>
          resolveDataset(
            { format: "csv", path: "bad.csv", label_column: "label" },
            { baseDir: tmp },
          ),
        "invalid_data",
        /bad\.csv: line 2, column 2/,
      );
    });
    await t.step("missing csv", async () => {
      await rejectsWith(
        () =>
          resolveDataset(
            { format: "csv", path: "nope.csv", label_column: "label" },
            { baseDir: tmp },
          ),
        "data_not_found",
        new RegExp(`CSV file not found: ${tmp}/nope\\.csv`),
      );
    });
    await t.step("idx with a test split", async () => {
      const d = await resolveDataset({
        format: "idx",
        images: "idx/train-images-idx3-ubyte.gz",
        labels: "idx/train-labels-idx1-ubyte.gz",
        test_images: "idx/t10k-images-idx3-ubyte.gz",
        test_labels: "idx/t10k-labels-idx1-ubyte.gz",
      }, { baseDir: tmp });
      assert.equal(d.y.length, 5);
      assert.equal(d.test!.y.length, 2);
    });
    await t.step("idx with only one test file", async () => {
      await rejectsWith(
        () =>
          resolveDataset({
            format: "idx",
            images: "idx/train-images-idx3-ubyte.gz",
            labels: "idx/train-labels-idx1-ubyte.gz",
            test_images: "idx/t10k-images-idx3-ubyte.gz",
          }, { baseDir: tmp }),
        "invalid_spec",
        /found only test_images/,
      );
    });
    await t.step("missing idx", async () => {
      await rejectsWith(
        () =>
          resolveDataset({
            format: "idx",
            images: "idx/train-images-idx3-ubyte.gz",
            labels: "labels.idx",
          }, { baseDir: tmp }),
        "data_not_found",
        new RegExp(`IDX labels file not found: ${tmp}/labels\\.idx`),
      );
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("resolveDataset builds synthetic data and refuses uploaded ids", async () => {
  const d = await resolveDataset(synthetic({ samples: 10, features: 3 }));
  assert.deepEqual(d.sampleShape, [3]);
  await rejectsWith(
    () => resolveDataset({ id: "ds_123" }),
    "invalid_spec",
    /uploaded dataset, which only the HTTP API can resolve/,
  );
});

Deno.test({
  name: "resolveDataset loads the real Fashion-MNIST from the Debian package",
  ignore: !pathExists(SYSTEM_FASHION),
  fn: async () => {
    const d = await withEnv(
      "FNGD_DATA_DIR",
      undefined,
      () => resolveDataset({ name: "fashion-mnist" }),
    );
    assert.equal(d.y.length, 60000);
    assert.equal(d.x.length, 60000 * 28 * 28);
    assert.deepEqual(d.sampleShape, [28, 28, 1]);
    assert.equal(d.classes, 10);
    assert.equal(d.test!.y.length, 10000);
    assert.equal(d.test!.x.length, 10000 * 28 * 28);
    // Fashion-MNIST is exactly balanced: 6000 per class in train, 1000 in test.
    const counts = new Array(10).fill(0);
    for (const c of d.y) counts[c]++;
    assert.ok(counts.every((n) => n === 6000), String(counts));
    const testCounts = new Array(10).fill(0);
    for (const c of d.test!.y) testCounts[c]++;
    assert.ok(testCounts.every((n) => n === 1000), String(testCounts));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of d.x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    assert.equal(lo, 0);
    assert.equal(hi, 1);
  },
});
