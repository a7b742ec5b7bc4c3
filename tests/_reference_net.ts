/**
 * An independent float reference for per-sample gradients of nets whose
 * samples interact through batch norm. It re-implements the forward pass
 * from the spec with plain TF.js ops (tf.conv2d, not patches; batch norm
 * from means and squares, not tf.batchNorm) in training mode, and gives
 * every sample its own copy of each weight site's kernel and bias:
 * `W + D_i` for sample i. The gradient of the summed batch loss with
 * respect to `D_i` at 0 is sample i's per-sample gradient as the engine's
 * `g_i = a_i (M e_i)^T` defines it with `e` from the batch loss: its
 * contribution to the batch gradient through its own activations, the
 * batch statistics' dependence included as autograd gives it.
 */
import * as tf from "@tensorflow/tfjs";
import type { LayerSpec, ModelSpec } from "../src/engine/mod.ts";
import type { SequentialModel } from "../src/engine/model.ts";

interface Weights {
  get(name: string): tf.Tensor;
}

const act = (s: tf.Tensor, a: string) =>
  a === "relu" ? tf.relu(s) : a === "tanh" ? tf.tanh(s) : s;

function runList(
  layers: readonly LayerSpec[],
  x: tf.Tensor,
  prefix: string,
  w: Weights,
): tf.Tensor {
  const ordinals = new Map<string, number>();
  for (const l of layers) {
    const ordinal = (ordinals.get(l.type) ?? 0) + 1;
    ordinals.set(l.type, ordinal);
    x = runLayer(l, x, `${prefix}${l.type}_${ordinal}`, w);
  }
  return x;
}

function runLayer(
  l: LayerSpec,
  x: tf.Tensor,
  name: string,
  w: Weights,
): tf.Tensor {
  const m = x.shape[0];
  switch (l.type) {
    case "dense": {
      // Per-sample kernels (M, in, units): a batched product of (M, 1, in).
      const k = tf.add(w.get(`${name}/kernel`), w.get(`${name}/kernel/delta`));
      const s = tf.reshape(
        tf.matMul(tf.reshape(x, [m, 1, -1]) as tf.Tensor3D, k as tf.Tensor3D),
        [m, -1],
      );
      return act(
        tf.add(tf.add(s, w.get(`${name}/bias`)), w.get(`${name}/bias/delta`)),
        l.activation,
      );
    }
    case "conv2d": {
      const [kh, kw] = typeof l.kernel_size === "number"
        ? [l.kernel_size, l.kernel_size]
        : l.kernel_size;
      const strides = typeof l.strides === "number"
        ? [l.strides, l.strides] as [number, number]
        : l.strides;
      const cin = x.shape[3]!;
      const k = tf.add(w.get(`${name}/kernel`), w.get(`${name}/kernel/delta`));
      const outs: tf.Tensor[] = [];
      for (let i = 0; i < m; i++) {
        const ki = tf.reshape(tf.slice(k, [i, 0, 0], [1, -1, -1]), [
          kh,
          kw,
          cin,
          l.filters,
        ]) as tf.Tensor4D;
        const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
        outs.push(tf.conv2d(xi, ki, strides, l.padding));
      }
      const b = tf.reshape(
        tf.add(w.get(`${name}/bias`), w.get(`${name}/bias/delta`)),
        [m, 1, 1, l.filters],
      );
      return act(tf.add(tf.concat(outs, 0), b), l.activation);
    }
    case "batch_norm": {
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const mean = tf.mean(x, axes, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), axes, true);
      const y = tf.add(
        tf.mul(
          tf.div(centred, tf.sqrt(tf.add(variance, l.epsilon))),
          w.get(`${name}/gamma`),
        ),
        w.get(`${name}/beta`),
      );
      return act(y, l.activation);
    }
    case "residual": {
      const inner = runList(l.layers as LayerSpec[], x, `${name}/`, w);
      const skip = runList(
        l.shortcut as LayerSpec[],
        x,
        `${name}/shortcut/`,
        w,
      );
      return act(tf.add(inner, skip), l.activation);
    }
    case "global_avg_pool2d":
      return tf.mean(x, [1, 2]);
    case "avg_pool2d":
    case "max_pool2d": {
      const pool = typeof l.pool_size === "number"
        ? [l.pool_size, l.pool_size] as [number, number]
        : l.pool_size;
      const strides = l.strides ?? pool;
      const pool2 = l.type === "avg_pool2d" ? tf.avgPool : tf.maxPool;
      return pool2(x as tf.Tensor4D, pool, strides, l.padding);
    }
    case "flatten":
      return tf.reshape(x, [m, -1]);
    case "dropout":
      throw new Error("the reference has no dropout masks");
    default:
      throw new Error(`the reference has no ${l.type}`);
  }
}

/** Per-sample gradients of every site and mean gradients of the plain parameters. */
export interface BatchGradients {
  /** Per site (by index), per sample: [kernel..., bias...] in float64. */
  columns: Float64Array[][];
  /** Per plain parameter name: the mean-loss gradient. */
  plain: Map<string, Float64Array>;
}

/**
 * Per-sample gradients of `model`'s sites over one training batch `x`,
 * `labels` one-hot, computed by {@link runList} with per-sample weight copies.
 */
export function batchPerSampleGradients(
  model: SequentialModel,
  spec: ModelSpec,
  x: tf.Tensor,
  labels: tf.Tensor2D,
): BatchGradients {
  const m = x.shape[0];
  const out: BatchGradients = { columns: [], plain: new Map() };
  tf.tidy(() => {
    const values = new Map<string, tf.Tensor>();
    for (const [name, v] of model.variables()) values.set(name, v.clone());
    const sites = model.trainable;
    const deltas = sites.flatMap((s) => [
      tf.zeros([m, s.fanIn, s.units]),
      tf.zeros([m, s.units]),
    ]);
    const plainNames = model.plain.map((p) => p.name);
    const plain = plainNames.map((n) => values.get(n)!);
    const grads = tf.grads((...args: tf.Tensor[]) => {
      const named = new Map(values);
      sites.forEach((s, i) => {
        named.set(`${s.name}/kernel/delta`, args[2 * i]);
        named.set(`${s.name}/bias/delta`, args[2 * i + 1]);
      });
      plainNames.forEach((n, i) => named.set(n, args[deltas.length + i]));
      const get = (name: string) => {
        const t = named.get(name);
        if (!t) throw new Error(`reference: no tensor ${name}`);
        return t;
      };
      const logits = runList(spec.layers, x, "", { get });
      // The summed loss: its gradient in D_i is sample i's own g_i.
      return tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits))));
    })([...deltas, ...plain]);
    out.columns = sites.map((s, j) => {
      const k = grads[2 * j].dataSync();
      const b = grads[2 * j + 1].dataSync();
      const width = s.fanIn * s.units;
      return Array.from({ length: m }, (_, i) => {
        const g = new Float64Array(width + s.units);
        g.set(k.subarray(i * width, (i + 1) * width));
        g.set(b.subarray(i * s.units, (i + 1) * s.units), width);
        return g;
      });
    });
    plainNames.forEach((n, i) => {
      const g = grads[deltas.length + i].dataSync();
      out.plain.set(n, Float64Array.from(g, (v) => v / m));
    });
  });
  return out;
}
