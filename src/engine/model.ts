/**
 * A sequential classifier built from the spec, with its own forward pass so
 * that each trainable layer's input and pre-activation gradient can be captured.
 */
import * as tf from "@tensorflow/tfjs";
import type { Activation, ModelSpec } from "./spec.ts";
import { Rng } from "./rng.ts";
import { linearToInput } from "./ops.ts";
import { extractPatches } from "./patches.ts";
import { inferModelShapes, type PatchGeometry } from "./shapes.ts";

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
   * @throws {EngineError} `invalid_spec` naming the offending layer field
   * (from {@link inferModelShapes}).
   */
  constructor(readonly spec: ModelSpec, seed: number) {
    // The same inference admits jobs at submission, so the two never disagree.
    const shapes = inferModelShapes(spec);
    this.inputShape = shapes.inputShape;
    this.outputUnits = shapes.outputUnits;
    const rng = new Rng(seed);
    const counts = { dense: 0, conv2d: 0 };
    for (const l of shapes.layers) {
      if (l.type === "dense" || l.type === "conv2d") {
        const layer = this.#makeLayer(
          l.type,
          ++counts[l.type],
          l.fanIn,
          l.units,
          l.activation,
          rng,
          spec.init,
          l.geometry ? l.geometry.kernel[0] * l.geometry.kernel[1] : 1,
        );
        if (l.geometry) layer.geometry = l.geometry;
        this.steps.push({ kind: "trainable", layer });
      } else if (l.type === "max_pool2d") {
        this.steps.push({
          kind: "max_pool2d",
          pool: l.pool,
          strides: l.strides,
          padding: l.padding,
        });
      } else {
        this.steps.push({ kind: "flatten" });
      }
    }
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
