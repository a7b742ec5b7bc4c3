/**
 * Export to the TF.js layers format (model.json + weights), so users can load
 * a trained model with `tf.loadLayersModel` anywhere TF.js runs.
 */
import * as tf from "@tensorflow/tfjs";
import { exportEngineModel } from "./engine_format.ts";
import type { ExportSink } from "./layers/mod.ts";
import type { SequentialModel } from "./model.ts";
import type { LossName } from "./spec_fields.ts";
import type { Vocabulary } from "./types.ts";

/** How the trained model is to be read. */
export interface ExportOptions {
  /**
   * The training loss: under `sigmoid_cross_entropy` the export ends in a
   * sigmoid, so it predicts what the engine predicts (loss.ts
   * `predictions`); otherwise it gives the logits.
   */
  loss?: LossName;
  /** Sequence models: the vocabulary, saved in the engine format's model.json. */
  vocabulary?: Vocabulary;
}

/** The saved model: `model.json` content and the concatenated weight bytes. */
export interface ModelArtifacts {
  /** model.json: topology plus a weights manifest pointing at `weights.bin`. */
  modelJson: Record<string, unknown>;
  /** The bytes `weights.bin` must hold. */
  weightData: Uint8Array;
}

/**
 * Mirrors our model in TF.js layers with the same weights and saves it in
 * memory (a sequence model instead in the engine's own format,
 * engine_format.ts): a `tf.Sequential` for a plain stack of layers (as before residual
 * blocks existed, so those exports are unchanged), a functional `tf.model`
 * over symbolic tensors when a residual block branches.
 */
export async function exportModel(
  model: SequentialModel,
  options: ExportOptions = {},
): Promise<ModelArtifacts> {
  // Token models have no TF.js layers counterpart: the engine's own format.
  if (model.tokens) {
    // An asynchronous read first: webgpu keeps what it read on the host, so
    // the synchronous one below never needs its 2D-canvas read path.
    await Promise.all([...model.variables().values()].map((v) => v.data()));
    return exportEngineModel(model, options);
  }
  const pairs: [tf.layers.Layer, () => tf.Tensor[]][] = [];
  const input = tf.input({ shape: model.inputShape });
  const head = (sink: ExportSink, logits: tf.SymbolicTensor) =>
    options.loss === "sigmoid_cross_entropy"
      ? sink.apply(tf.layers.activation({ activation: "sigmoid" }), logits)
      : logits;
  let mirror: tf.LayersModel;
  if (model.branched) {
    const sink: ExportSink = {
      inputConfig: () => ({}),
      apply(layer, x, weights) {
        if (weights) pairs.push([layer, weights]);
        return layer.apply(x) as tf.SymbolicTensor;
      },
    };
    const logits = model.layers.reduce((h, l) => l.exportTo(sink, h), input);
    mirror = tf.model({ inputs: input, outputs: head(sink, logits) });
  } else {
    // A stack: the symbolic tensors are only threaded through.
    const seq = tf.sequential();
    let first = true;
    const sink: ExportSink = {
      inputConfig() {
        const config = first ? { inputShape: model.inputShape } : {};
        first = false;
        return config;
      },
      apply(layer, x, weights) {
        seq.add(layer);
        if (weights) pairs.push([layer, weights]);
        return x as tf.SymbolicTensor;
      },
    };
    for (const layer of model.layers) layer.exportTo(sink, input);
    head(sink, input);
    mirror = seq;
  }
  for (const [layer, weights] of pairs) {
    const ws = tf.tidy(weights);
    layer.setWeights(ws);
    for (const w of ws) if (!(w instanceof tf.Variable)) w.dispose();
  }
  let saved: tf.io.ModelArtifacts | undefined;
  await mirror.save(tf.io.withSaveHandler((artifacts) => {
    saved = artifacts;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  mirror.dispose();
  const weightData = new Uint8Array(tf.io.concatenateArrayBuffers(
    Array.isArray(saved!.weightData)
      ? saved!.weightData
      : [saved!.weightData as ArrayBuffer],
  ));
  return {
    modelJson: {
      format: "layers-model",
      generatedBy: "fngd-service",
      convertedBy: null,
      modelTopology: saved!.modelTopology,
      weightsManifest: [{
        paths: ["weights.bin"],
        weights: saved!.weightSpecs,
      }],
    },
    weightData,
  };
}
