/**
 * Shape inference from the spec alone, allocating nothing: every layer's input
 * and output shape, conv geometry, and the checks that make a spec runnable.
 * `SequentialModel` builds from this plan and the API admits jobs with it, so
 * what is accepted at submission is exactly what the engine can build.
 */
import type { Activation, ModelSpec } from "./spec.ts";
import { EngineError, type SpecPath } from "./types.ts";

/** Static geometry of one conv layer. */
export interface PatchGeometry {
  inHeight: number;
  inWidth: number;
  channels: number;
  kernel: [number, number];
  strides: [number, number];
  /** Zero padding [top, bottom, left, right] (TF's `same` rule). */
  pad: [number, number, number, number];
  outHeight: number;
  outWidth: number;
}

/** Computes output size and padding exactly as TensorFlow does for `valid` and `same`. */
export function patchGeometry(
  input: [number, number, number],
  kernel: [number, number],
  strides: [number, number],
  padding: "valid" | "same",
): PatchGeometry {
  const [h, w, c] = input;
  let outHeight: number, outWidth: number;
  let pad: [number, number, number, number] = [0, 0, 0, 0];
  if (padding === "same") {
    outHeight = Math.ceil(h / strides[0]);
    outWidth = Math.ceil(w / strides[1]);
    const ph = Math.max((outHeight - 1) * strides[0] + kernel[0] - h, 0);
    const pw = Math.max((outWidth - 1) * strides[1] + kernel[1] - w, 0);
    pad = [
      Math.floor(ph / 2),
      ph - Math.floor(ph / 2),
      Math.floor(pw / 2),
      pw - Math.floor(pw / 2),
    ];
  } else {
    outHeight = Math.floor((h - kernel[0]) / strides[0]) + 1;
    outWidth = Math.floor((w - kernel[1]) / strides[1]) + 1;
  }
  return {
    inHeight: h,
    inWidth: w,
    channels: c,
    kernel,
    strides,
    pad,
    outHeight,
    outWidth,
  };
}

/**
 * Patch widths (kh*kw*C) up to this are extracted with an identity-filter
 * conv, wider ones with slices (patches.ts has the measurements).
 */
export const IDENTITY_CONV_MAX_PATCH = 100;

interface PlannedBase {
  /** Position in `model.layers`. */
  index: number;
  /** Shape of one sample entering the layer. */
  input: number[];
  /** Shape of one sample leaving it. */
  output: number[];
}

/** A trainable layer as planned: `inputs (rows, fanIn) @ kernel (fanIn, units)`. */
export interface PlannedTrainable extends PlannedBase {
  type: "dense" | "conv2d";
  fanIn: number;
  units: number;
  activation: Activation;
  /** Output positions per sample: 1 for dense, outH * outW for conv. */
  positions: number;
  /** Conv geometry; undefined for dense. */
  geometry?: PatchGeometry;
}

/** A max pooling layer as planned. */
export interface PlannedPool extends PlannedBase {
  type: "max_pool2d";
  pool: [number, number];
  strides: [number, number];
  padding: "valid" | "same";
}

/** A flatten layer as planned. */
export interface PlannedFlatten extends PlannedBase {
  type: "flatten";
}

/** One layer of the plan. */
export type PlannedLayer = PlannedTrainable | PlannedPool | PlannedFlatten;

/** The whole model's shapes. */
export interface ModelShapes {
  inputShape: number[];
  layers: PlannedLayer[];
  /** The trainable layers in order; `trainable[i]` is trainable layer i. */
  trainable: PlannedTrainable[];
  /** Logits per sample. */
  outputUnits: number;
}

/** `["model", "layers", 3, "units"]` -> `model.layers[3].units`. */
export function formatSpecPath(path: SpecPath): string {
  return path.map((p, i) =>
    typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`
  ).join("");
}

/** An `invalid_spec` error whose message starts with the JSON path it names. */
export function specError(path: SpecPath, message: string): EngineError {
  return new EngineError(
    "invalid_spec",
    `${formatSpecPath(path)}: ${message}`,
    {
      path,
    },
  );
}

const pair = (v: number | [number, number]): [number, number] =>
  Array.isArray(v) ? v : [v, v];

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Infers every layer's shapes from `spec`, allocating no tensor.
 * @throws {EngineError} `invalid_spec` whose `path` names the offending layer
 * field: a dense layer on a non-flat input, a conv or pool on a non-image, a
 * kernel or pool that does not fit its input, or a last layer that is not a
 * dense layer giving a vector of logits, or a strided conv with wide patches
 * after the first trainable layer (whose patch extraction has no gradient).
 */
export function inferModelShapes(spec: ModelSpec): ModelShapes {
  let shape = [...spec.input_shape];
  const layers: PlannedLayer[] = [];
  spec.layers.forEach((l, index) => {
    const at: SpecPath = ["model", "layers", index];
    const input = [...shape];
    if (l.type === "dense") {
      if (shape.length !== 1) {
        throw specError(
          at,
          `dense expects a flat input, got shape [${shape}]; add a flatten layer before it`,
        );
      }
      shape = [l.units];
      layers.push({
        type: "dense",
        index,
        input,
        output: shape,
        fanIn: input[0],
        units: l.units,
        activation: l.activation,
        positions: 1,
      });
    } else if (l.type === "conv2d") {
      if (shape.length !== 3) {
        throw specError(
          at,
          `conv2d expects input [height, width, channels], got [${shape}]`,
        );
      }
      const [kh, kw] = pair(l.kernel_size);
      const geometry = patchGeometry(
        shape as [number, number, number],
        [kh, kw],
        pair(l.strides),
        l.padding,
      );
      if (geometry.outHeight < 1 || geometry.outWidth < 1) {
        throw specError(
          [...at, "kernel_size"],
          `a ${kh}x${kw} kernel does not fit input [${shape}] with padding ${l.padding}; use a kernel of at most ${
            shape[0]
          }x${shape[1]} or padding "same"`,
        );
      }
      const fanIn = kh * kw * input[2];
      const strided = geometry.strides[0] > 1 || geometry.strides[1] > 1;
      const first = !layers.some((p) =>
        p.type === "conv2d" || p.type === "dense"
      );
      if (strided && fanIn > IDENTITY_CONV_MAX_PATCH && !first) {
        // Wide patches are cut with stridedSlice when strided, and TF.js has
        // no gradient for it; the first trainable layer needs none.
        throw specError(
          [...at, "strides"],
          `strides [${geometry.strides}] need patches of at most ${IDENTITY_CONV_MAX_PATCH} values (kernel height x width x input channels) after the first trainable layer, got ${kh}x${kw}x${
            input[2]
          } = ${fanIn}; use strides 1 (and a max_pool2d), a smaller kernel, or fewer input channels`,
        );
      }
      shape = [geometry.outHeight, geometry.outWidth, l.filters];
      layers.push({
        type: "conv2d",
        index,
        input,
        output: shape,
        fanIn,
        units: l.filters,
        activation: l.activation,
        positions: geometry.outHeight * geometry.outWidth,
        geometry,
      });
    } else if (l.type === "max_pool2d") {
      if (shape.length !== 3) {
        throw specError(
          at,
          `max_pool2d expects a 3-D input [height, width, channels], got [${shape}]`,
        );
      }
      const pool = pair(l.pool_size);
      const strides = pair(l.strides ?? l.pool_size);
      const g = patchGeometry(
        shape as [number, number, number],
        pool,
        strides,
        l.padding,
      );
      if (g.outHeight < 1 || g.outWidth < 1) {
        throw specError(
          [...at, "pool_size"],
          `pool [${pool}] does not fit input [${shape}] with padding ${l.padding}; use a pool of at most ${
            shape[0]
          }x${shape[1]} or padding "same"`,
        );
      }
      shape = [g.outHeight, g.outWidth, shape[2]];
      layers.push({
        type: "max_pool2d",
        index,
        input,
        output: shape,
        pool,
        strides,
        padding: l.padding,
      });
    } else {
      shape = [product(shape)];
      layers.push({ type: "flatten", index, input, output: shape });
    }
  });
  const last = spec.layers.length - 1;
  if (spec.layers[last].type !== "dense") {
    throw specError(
      ["model", "layers", last],
      `the last layer must be dense (its outputs are the class logits), got ${
        spec.layers[last].type
      }`,
    );
  }
  return {
    inputShape: [...spec.input_shape],
    layers,
    trainable: layers.filter((l): l is PlannedTrainable =>
      l.type === "dense" || l.type === "conv2d"
    ),
    outputUnits: shape[0],
  };
}

/** What shape inference needs to know about a dataset. */
export interface SampleFacts {
  /** Shape of one sample. */
  sampleShape: readonly number[];
  /** Number of classes, when known before loading (not for uploads). */
  classes?: number;
}

/**
 * Checks that samples fit the model's input and that the logits cover every
 * class; the trainer runs the same check on the loaded data.
 * @throws {EngineError} `invalid_spec` naming `model.input_shape` or the last
 * layer's `units`.
 */
export function checkDataFitsModel(
  model: { inputShape: readonly number[]; outputUnits: number },
  data: SampleFacts,
  lastLayer?: number,
): void {
  const width = product(model.inputShape);
  const sampleWidth = product(data.sampleShape);
  if (sampleWidth !== width) {
    throw new EngineError(
      "invalid_spec",
      `model.input_shape [${model.inputShape}] has ${width} values but dataset samples have shape [${data.sampleShape}] (${sampleWidth} values)`,
      { path: ["model", "input_shape"] },
    );
  }
  if (data.classes !== undefined && data.classes > model.outputUnits) {
    throw new EngineError(
      "invalid_spec",
      `the last layer has ${model.outputUnits} units but the dataset has ${data.classes} classes; give it at least ${data.classes} units`,
      {
        path: lastLayer === undefined
          ? ["model", "layers"]
          : ["model", "layers", lastLayer, "units"],
      },
    );
  }
}
