/**
 * Export to the TF.js layers format (model.json + weights), so users can load
 * a trained model with `tf.loadLayersModel` anywhere TF.js runs.
 */
import * as tf from "@tensorflow/tfjs";
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
  const inputShape = model.inputShape;
  let specIndex = 0;
  for (const step of model.steps) {
    const layerSpec = model.spec.layers[specIndex++];
    const input = first ? { inputShape } : {};
    first = false;
    if (step.kind === "flatten") {
      seq.add(tf.layers.flatten(input));
    } else if (step.kind === "max_pool2d") {
      seq.add(
        tf.layers.maxPooling2d({
          ...input,
          poolSize: step.pool,
          strides: step.strides,
          padding: step.padding,
        }),
      );
    } else {
      const l = step.layer;
      if (l.kind === "dense") {
        const layer = tf.layers.dense({
          ...input,
          units: l.units,
          activation: l.activation,
        });
        seq.add(layer);
        pairs.push([layer, () => [l.kernel, l.bias]]);
      } else {
        const g = l.geometry!;
        const padding = layerSpec.type === "conv2d"
          ? layerSpec.padding
          : "valid";
        const layer = tf.layers.conv2d({
          ...input,
          filters: l.units,
          kernelSize: g.kernel,
          strides: g.strides,
          padding,
          activation: l.activation,
        });
        seq.add(layer);
        pairs.push([
          layer,
          () => [
            tf.reshape(l.kernel, [...g.kernel, g.channels, l.units]),
            l.bias,
          ],
        ]);
      }
    }
  }
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
