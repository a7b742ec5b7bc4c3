/**
 * Sliding-window geometry shared by conv2d and max_pool2d: the spec fields
 * that describe a window, and TensorFlow's output-size and padding rules.
 * Pure shape arithmetic: admission uses it without TF.js.
 */
import { z } from "zod";
import { positiveInt } from "../spec_fields.ts";

/** A window size: one integer for a square window, or [height, width]. */
export const windowSize = z.union([
  positiveInt("kernel_size", 15),
  z.tuple([positiveInt("kernel_size", 15), positiveInt("kernel_size", 15)]),
]);

/** Window strides: one integer for both axes, or [height, width]. */
export const windowStrides = () =>
  z.union([
    positiveInt("strides", 8),
    z.tuple([positiveInt("strides", 8), positiveInt("strides", 8)]),
  ]);

/** TF's two padding modes, `valid` unless given. */
export const windowPadding = () => z.enum(["valid", "same"]).default("valid");

/** `3` -> `[3, 3]`; pairs pass through. */
export const pair = (v: number | [number, number]): [number, number] =>
  Array.isArray(v) ? v : [v, v];

/** Static geometry of one window over an NHWC input. */
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
