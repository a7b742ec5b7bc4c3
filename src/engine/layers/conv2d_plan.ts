/** The pure half of `conv2d`: its spec, shape inference and cost terms. */
import { z } from "zod";
import { type Activation, activation, positiveInt } from "../spec_fields.ts";
import {
  pair,
  type PatchGeometry,
  patchGeometry,
  windowPadding,
  windowSize,
  windowStrides,
} from "./geometry.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";
import { siteFlops, siteOutputFloats } from "./linear_cost.ts";

/** A 2-D convolution over NHWC input. */
export const Conv2dLayerSpec = z.strictObject({
  type: z.literal("conv2d"),
  filters: positiveInt("filters", 1024),
  kernel_size: windowSize,
  strides: windowStrides().default(1),
  padding: windowPadding(),
  activation: activation(),
});

/**
 * Patch widths (kh*kw*C) up to this are extracted with an identity-filter
 * conv, wider ones with slices (conv2d.ts has the measurements).
 */
export const IDENTITY_CONV_MAX_PATCH = 100;

/** A conv layer as planned: one weight site over its input's patches. */
export interface Conv2dPlan extends PlannedLayerBase<"conv2d"> {
  activation: Activation;
  /** The spec's padding mode; `geometry.pad` has the numbers. */
  padding: "valid" | "same";
  geometry: PatchGeometry;
  sites: [PlannedSite];
}

/** Floats of a conv layer's zero-padded input batch. */
function paddedInputFloats(g: PatchGeometry, m: number): number {
  const [top, bottom, left, right] = g.pad;
  return m * (g.inHeight + top + bottom) * (g.inWidth + left + right) *
    g.channels;
}

/** Shapes and costs of `conv2d`. */
export const conv2dPlanner: LayerPlanner<typeof Conv2dLayerSpec, Conv2dPlan> = {
  type: "conv2d",
  spec: Conv2dLayerSpec,
  logits: false,
  plan(spec, ctx) {
    const shape = ctx.input;
    if (shape.length !== 3) {
      throw ctx.fail(
        `conv2d expects input [height, width, channels], got [${shape}]`,
      );
    }
    const [kh, kw] = pair(spec.kernel_size);
    const geometry = patchGeometry(
      shape as [number, number, number],
      [kh, kw],
      pair(spec.strides),
      spec.padding,
    );
    if (geometry.outHeight < 1 || geometry.outWidth < 1) {
      throw ctx.fail(
        `a ${kh}x${kw} kernel does not fit input [${shape}] with padding ${spec.padding}; use a kernel of at most ${
          shape[0]
        }x${shape[1]} or padding "same"`,
        "kernel_size",
      );
    }
    const fanIn = kh * kw * shape[2];
    const strided = geometry.strides[0] > 1 || geometry.strides[1] > 1;
    if (strided && fanIn > IDENTITY_CONV_MAX_PATCH && ctx.inputGradient) {
      // Wide patches are cut with stridedSlice when strided, and TF.js has
      // no gradient for it; the first trainable layer needs none.
      throw ctx.fail(
        `strides [${geometry.strides}] need patches of at most ${IDENTITY_CONV_MAX_PATCH} values (kernel height x width x input channels) after the first trainable layer, got ${kh}x${kw}x${
          shape[2]
        } = ${fanIn}; use strides 1 (and a max_pool2d), a smaller kernel, or fewer input channels`,
        "strides",
      );
    }
    const output = [geometry.outHeight, geometry.outWidth, spec.filters];
    return {
      type: "conv2d",
      output,
      activation: spec.activation,
      padding: spec.padding,
      geometry,
      sites: [ctx.site({
        fanIn,
        units: spec.filters,
        positions: geometry.outHeight * geometry.outWidth,
        output,
        geometry,
      })],
    };
  },
  forwardFloats(plan, m, training) {
    const g = plan.geometry;
    const site = plan.sites[0];
    let floats = 0;
    const padded = paddedInputFloats(g, m);
    if (padded > m * g.inHeight * g.inWidth * g.channels) floats += padded;
    // The patch matrix, twice: the identity conv's output, or the kh*kw
    // slices and their concat.
    floats += 2 * m * site.positions * site.fanIn;
    if (training) {
      // While gradients are recorded, TF.js keeps a clone of the inputs a
      // kernel's gradient needs, and wasm's clone is a copy: each of the
      // kh*kw slices keeps the whole padded input; the identity conv its
      // input and the identity filter.
      floats += site.fanIn > IDENTITY_CONV_MAX_PATCH
        ? g.kernel[0] * g.kernel[1] * padded
        : padded + site.fanIn * site.fanIn;
    }
    return floats + siteOutputFloats(site, plan.activation, m, training);
  },
  backwardFloats(plan, m, inputGradient) {
    // Patches taken by kh*kw slices (wide patches) get, in backward, one
    // gradient per slice as large as the whole padded input, then their
    // sums: more than a same-sized gradient when strides or padding make
    // the padded input larger than the output.
    const g = plan.geometry;
    if (!inputGradient || plan.sites[0].fanIn <= IDENTITY_CONV_MAX_PATCH) {
      return 0;
    }
    return 2 * g.kernel[0] * g.kernel[1] * paddedInputFloats(g, m);
  },
  flops(plan, m, inputGradient) {
    const site = plan.sites[0];
    // Identity-filter conv: every patch column sums fanIn inputs.
    const patches = site.fanIn <= IDENTITY_CONV_MAX_PATCH
      ? 2 * m * site.positions * site.fanIn * site.fanIn
      : 0;
    return siteFlops(site, m, inputGradient, patches);
  },
};
