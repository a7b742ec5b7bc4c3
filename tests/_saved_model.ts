/** A small TF.js model and the model.json + weights.bin the API serves for it. */
import * as tf from "@tensorflow/tfjs";

/** A small dense model saved the way the engine's export saves one. */
export async function savedModel() {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 5, activation: "relu" }),
      tf.layers.dense({ units: 3 }),
    ],
  });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((a) => {
    artifacts = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  const modelJson = {
    format: "layers-model",
    modelTopology: artifacts!.modelTopology,
    weightsManifest: [{
      paths: ["weights.bin"],
      weights: artifacts!.weightSpecs,
    }],
  };
  const weightData = new Uint8Array(artifacts!.weightData as ArrayBuffer);
  return { model, modelJson, weightData };
}
