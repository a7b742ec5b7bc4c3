/**
 * `conv2d`: convolution as patches times a matrix. The wasm backend has
 * neither ExtractImagePatches nor Conv2DBackpropFilter, and FNGD needs the
 * patches anyway, so a conv layer is a linear site over `patches(x)`.
 *
 * Patches come from a conv2d with a one-hot identity filter when the patch is
 * small, else from kh*kw slices. Measured on wasm (128 x 28 x 28 x C, 3x3):
 * identity conv 3.5 / 43 / 125 ms for C = 1 / 8 / 16, slices 56 / 60 / 88 ms,
 * because wasm's Slice copies its whole input through JS.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type Conv2dLayerSpec,
  type Conv2dPlan,
  conv2dPlanner,
  IDENTITY_CONV_MAX_PATCH,
} from "./conv2d_plan.ts";
import type { PatchGeometry } from "./geometry.ts";
import type { LayerKind } from "./kind.ts";
import {
  activate,
  createLinearSite,
  linearForward,
  siteVariables,
} from "./linear_site.ts";

/**
 * Patches of an NHWC batch as a (M * outH * outW, kh * kw * C) matrix whose
 * column order (dy, dx, c) matches a TF conv kernel reshaped to 2-D.
 */
export function extractPatches(x: tf.Tensor4D, g: PatchGeometry): tf.Tensor2D {
  const m = x.shape[0];
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.strides;
  const width = kh * kw * g.channels;
  const padded = g.pad.some((p) => p > 0)
    ? tf.pad(x, [[0, 0], [g.pad[0], g.pad[1]], [g.pad[2], g.pad[3]], [0, 0]])
    : x;
  if (width <= IDENTITY_CONV_MAX_PATCH) {
    // Filter [kh, kw, C, kh*kw*C] maps input (dy, dx, c) to output channel (dy*kw + dx)*C + c.
    const eye = tf.reshape(tf.eye(width), [
      kh,
      kw,
      g.channels,
      width,
    ]) as tf.Tensor4D;
    const patches = tf.conv2d(padded, eye, [sh, sw], "valid");
    return tf.reshape(patches, [m * g.outHeight * g.outWidth, width]);
  }
  const pieces: tf.Tensor4D[] = [];
  for (let dy = 0; dy < kh; dy++) {
    for (let dx = 0; dx < kw; dx++) {
      const spanH = (g.outHeight - 1) * sh + 1;
      const spanW = (g.outWidth - 1) * sw + 1;
      pieces.push(
        sh === 1 && sw === 1
          ? tf.slice(padded, [0, dy, dx, 0], [m, spanH, spanW, g.channels])
          : tf.stridedSlice(padded, [0, dy, dx, 0], [
            m,
            dy + spanH,
            dx + spanW,
            g.channels,
          ], [1, sh, sw, 1]) as tf.Tensor4D,
      );
    }
  }
  const stacked = pieces.length === 1 ? pieces[0] : tf.concat(pieces, 3);
  return tf.reshape(stacked, [
    m * g.outHeight * g.outWidth,
    kh * kw * g.channels,
  ]);
}

/** The `conv2d` kind. */
export const conv2d: LayerKind<typeof Conv2dLayerSpec, Conv2dPlan> = {
  ...conv2dPlanner,
  build(plan, ctx) {
    const g = plan.geometry;
    const site = createLinearSite(
      plan.sites[0],
      ctx,
      plan.activation,
      g.kernel[0] * g.kernel[1],
    );
    return {
      sites: [site],
      plain: [],
      variables: () => siteVariables(site),
      forward: (x, pass) =>
        activate(
          linearForward(
            site,
            extractPatches(x as tf.Tensor4D, g),
            x.shape[0],
            pass,
          ),
          plan.activation,
        ),
      exportTo(sink, x) {
        const layer = tf.layers.conv2d({
          ...sink.inputConfig(),
          filters: site.units,
          kernelSize: g.kernel,
          strides: g.strides,
          padding: plan.padding,
          activation: plan.activation,
        });
        return sink.apply(layer, x, () => [
          tf.reshape(site.kernel, [...g.kernel, g.channels, site.units]),
          site.bias,
        ]);
      },
    };
  },
};
