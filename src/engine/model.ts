/**
 * A sequential classifier built from the spec, with its own forward pass so
 * that each trainable layer's input and pre-activation gradient can be captured.
 */
import * as tf from "@tensorflow/tfjs";
import type { Activation, LayerSpec, ModelSpec } from "./spec.ts";
import { Rng } from "./rng.ts";
import { linearToInput } from "./ops.ts";
import { EngineError } from "./types.ts";
import {
  extractPatches,
  type PatchGeometry,
  patchGeometry,
} from "./patches.ts";

/** A trainable layer as the optimizers see it. */
export interface TrainableLayer {
  kind: "dense" | "conv2d";
  /** Index among trainable layers: the `layer` of coefficients and events. */
  index: number;
  /**
   * Self-describing prefix for state names, e.g. `dense_1`. TF.js variable names
   * must be unique per process, so ours live in maps keyed by these names instead.
   */
  name: string;
  /** Kernel as a 2-D matrix: (fan_in, units); conv kernels are (kh*kw*cin, filters). */
  kernel: tf.Variable<tf.Rank.R2>;
  bias: tf.Variable<tf.Rank.R1>;
  /** Fan-in without the bias. */
  fanIn: number;
  units: number;
  activation: Activation;
  /** Conv geometry; undefined for dense. */
  geometry?: PatchGeometry;
}

type PlanStep =
  | { kind: "trainable"; layer: TrainableLayer }
  | {
    kind: "max_pool2d";
    pool: [number, number];
    strides: [number, number];
    padding: "valid" | "same";
  }
  | { kind: "flatten" };

const pair = (v: number | [number, number]): [number, number] =>
  Array.isArray(v) ? v : [v, v];

function outputSize(
  input: number,
  k: number,
  s: number,
  padding: string,
): number {
  return padding === "same"
    ? Math.ceil(input / s)
    : Math.floor((input - k) / s) + 1;
}

/** One trainable layer's tensors from a forward pass; owned by the caller. */
export interface LayerCapture {
  /** Dense: inputs (M, fan_in). Conv: patches (M*T, fan_in). */
  inputs: tf.Tensor2D;
  /** Output positions per sample (1 for dense). */
  positions: number;
  /** `inputs` transposed, filled on first use by `inputsTransposed`. */
  inputsT?: tf.Tensor2D;
}

/** The model: a plan of steps over variables. */
export class SequentialModel {
  readonly trainable: TrainableLayer[] = [];
  readonly steps: PlanStep[] = [];
  readonly inputShape: number[];
  readonly outputUnits: number;

  /**
   * Builds the layers and initialises weights from `seed`.
   * @throws {EngineError} `invalid_spec` naming the offending layer field.
   */
  constructor(readonly spec: ModelSpec, seed: number) {
    this.inputShape = [...spec.input_shape];
    const rng = new Rng(seed);
    let shape = [...spec.input_shape];
    const counts = { dense: 0, conv2d: 0 };
    spec.layers.forEach((l: LayerSpec, i: number) => {
      const where = `model.layers[${i}]`;
      if (l.type === "dense") {
        if (shape.length !== 1) {
          throw new EngineError(
            "invalid_spec",
            `${where}: dense expects a flat input, got shape [${shape}]; add a flatten layer before it`,
          );
        }
        const layer = this.#makeLayer(
          "dense",
          ++counts.dense,
          shape[0],
          l.units,
          l.activation,
          rng,
          spec.init,
        );
        this.steps.push({ kind: "trainable", layer });
        shape = [l.units];
      } else if (l.type === "conv2d") {
        if (shape.length !== 3) {
          throw new EngineError(
            "invalid_spec",
            `${where}: conv2d expects input [height, width, channels], got [${shape}]`,
          );
        }
        const [kh, kw] = pair(l.kernel_size);
        const [sh, sw] = pair(l.strides);
        const geometry = patchGeometry(
          shape as [number, number, number],
          [kh, kw],
          [sh, sw],
          l.padding,
        );
        if (geometry.outHeight < 1 || geometry.outWidth < 1) {
          throw new EngineError(
            "invalid_spec",
            `${where}.kernel_size: a ${kh}x${kw} kernel does not fit input [${shape}] with padding ${l.padding}`,
          );
        }
        const layer = this.#makeLayer(
          "conv2d",
          ++counts.conv2d,
          kh * kw * shape[2],
          l.filters,
          l.activation,
          rng,
          spec.init,
          kh * kw,
        );
        layer.geometry = geometry;
        this.steps.push({ kind: "trainable", layer });
        shape = [geometry.outHeight, geometry.outWidth, l.filters];
      } else if (l.type === "max_pool2d") {
        if (shape.length !== 3) {
          throw new EngineError(
            "invalid_spec",
            `${where}: max_pool2d expects a 3-D input, got [${shape}]`,
          );
        }
        const p = pair(l.pool_size);
        const s = pair(l.strides ?? l.pool_size);
        const oh = outputSize(shape[0], p[0], s[0], l.padding);
        const ow = outputSize(shape[1], p[1], s[1], l.padding);
        if (oh < 1 || ow < 1) {
          throw new EngineError(
            "invalid_spec",
            `${where}.pool_size: pool [${p}] does not fit input [${shape}]`,
          );
        }
        this.steps.push({
          kind: "max_pool2d",
          pool: p,
          strides: s,
          padding: l.padding,
        });
        shape = [oh, ow, shape[2]];
      } else {
        this.steps.push({ kind: "flatten" });
        shape = [shape.reduce((a, b) => a * b, 1)];
      }
    });
    if (shape.length !== 1) {
      throw new EngineError(
        "invalid_spec",
        `model.layers: the last layer must output class logits (a vector), got shape [${shape}]`,
      );
    }
    const last = spec.layers[spec.layers.length - 1];
    if (last.type !== "dense") {
      throw new EngineError(
        "invalid_spec",
        `model.layers: the last layer must be dense, got ${last.type}`,
      );
    }
    this.outputUnits = shape[0];
  }

  #makeLayer(
    kind: "dense" | "conv2d",
    ordinal: number,
    fanIn: number,
    units: number,
    activation: Activation,
    rng: Rng,
    init: "he" | "glorot" | undefined,
    receptive = 1,
  ): TrainableLayer {
    const scheme = init ?? (activation === "relu" ? "he" : "glorot");
    const values = new Float32Array(fanIn * units);
    if (scheme === "he") {
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < values.length; i++) values[i] = rng.normal() * std;
    } else {
      // Glorot uniform; conv fan-out counts the receptive field like Keras does.
      const fanOut = units * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < values.length; i++) {
        values[i] = (rng.next() * 2 - 1) * limit;
      }
    }
    const name = `${kind}_${ordinal}`;
    const layer: TrainableLayer = {
      kind,
      index: this.trainable.length,
      name,
      kernel: tf.tidy(() =>
        tf.variable(tf.tensor2d(values, [fanIn, units]), true)
      ),
      bias: tf.tidy(() => tf.variable(tf.zeros([units]), true)),
      fanIn,
      units,
      activation,
    };
    this.trainable.push(layer);
    return layer;
  }

  /**
   * Logits for a batch. With `probes`, adds probe i to trainable layer i's
   * pre-activation (so d loss / d probe is that layer's output gradient) and
   * pushes each layer's input (or patches) onto `captures`, kept for the caller.
   */
  forward(
    x: tf.Tensor,
    probes?: tf.Tensor[],
    captures?: LayerCapture[],
  ): tf.Tensor2D {
    let h = x;
    const m = x.shape[0];
    for (const step of this.steps) {
      if (step.kind === "flatten") {
        h = tf.reshape(h, [m, -1]);
      } else if (step.kind === "max_pool2d") {
        h = tf.maxPool(h as tf.Tensor4D, step.pool, step.strides, step.padding);
      } else {
        const layer = step.layer;
        let inputs: tf.Tensor2D;
        let positions = 1;
        if (layer.kind === "dense") {
          inputs = h as tf.Tensor2D;
        } else {
          const g = layer.geometry!;
          inputs = extractPatches(h as tf.Tensor4D, g);
          positions = g.outHeight * g.outWidth;
        }
        // Training passes (with probes) only need gradients to the inputs; plain
        // matMul keeps the weights differentiable for references and evaluation.
        const product = probes
          ? linearToInput(inputs, layer.kernel)
          : tf.matMul(inputs, layer.kernel);
        let s: tf.Tensor = tf.add(product, layer.bias);
        if (layer.kind === "conv2d") {
          const g = layer.geometry!;
          s = tf.reshape(s, [m, g.outHeight, g.outWidth, layer.units]);
        }
        if (probes) s = tf.add(s, probes[layer.index]);
        if (captures) {
          captures.push({ inputs: tf.keep(inputs), positions });
        }
        h = activate(s, layer.activation);
      }
    }
    return h as tf.Tensor2D;
  }

  /** Shapes of the probe tensors for a batch of `m` samples, one per trainable layer. */
  probeShapes(m: number): number[][] {
    return this.trainable.map((l) =>
      l.kind === "dense"
        ? [m, l.units]
        : [m, l.geometry!.outHeight, l.geometry!.outWidth, l.units]
    );
  }

  /** Every variable by its self-describing name. */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const l of this.trainable) {
      out.set(`${l.name}/kernel`, l.kernel);
      out.set(`${l.name}/bias`, l.bias);
    }
    return out;
  }

  /** Frees the weights. */
  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}

function activate(s: tf.Tensor, activation: Activation): tf.Tensor {
  if (activation === "relu") return tf.relu(s);
  if (activation === "tanh") return tf.tanh(s);
  return s;
}
