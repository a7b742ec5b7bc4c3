/**
 * Export to the TF.js layers format (model.json + weights), so users can load
 * a trained model with `tf.loadLayersModel` anywhere TF.js runs.
 */
import * as tf from "@tensorflow/tfjs";
import type { ExportSink } from "./layers/mod.ts";
import type { SequentialModel } from "./model.ts";

/** The saved model: `model.json` content and the concatenated weight bytes. */
export interface ModelArtifacts {
  /** model.json: topology plus a weights manifest pointing at `weights.bin`. */
  modelJson: Record<string, unknown>;
  /** The bytes `weights.bin` must hold. */
  weightData: Uint8Array;
}

/** Mirrors our model as a `tf.Sequential` with the same weights and saves it in memory. */
export async function exportModel(
  model: SequentialModel,
): Promise<ModelArtifacts> {
  const seq = tf.sequential();
  const pairs: [tf.layers.Layer, () => tf.Tensor[]][] = [];
  let first = true;
  const sink: ExportSink = {
    inputConfig() {
      const config = first ? { inputShape: model.inputShape } : {};
      first = false;
      return config;
    },
    add(layer, weights) {
      seq.add(layer);
      if (weights) pairs.push([layer, weights]);
    },
  };
  for (const layer of model.layers) layer.exportTo(sink);
  for (const [layer, weights] of pairs) {
    const ws = tf.tidy(weights);
    layer.setWeights(ws);
    for (const w of ws) if (!(w instanceof tf.Variable)) w.dispose();
  }
  let saved: tf.io.ModelArtifacts | undefined;
  await seq.save(tf.io.withSaveHandler((artifacts) => {
    saved = artifacts;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  seq.dispose();
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
