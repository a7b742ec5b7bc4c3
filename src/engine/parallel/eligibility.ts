/**
 * Whether a run can train data-parallel, and if not, why: the shards must
 * compute exactly what one thread would from their rows alone.
 */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "../model.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { ModelSpec } from "../spec.ts";

/** Why `threads > 1` cannot apply to this run, or undefined when it can. */
export function parallelBlocker(
  spec: ModelSpec,
  model: SequentialModel,
  optimizer: Optimizer,
  optimizerName: string,
): string | undefined {
  const backend = tf.getBackend();
  if (backend !== "wasm") {
    return `shards run the wasm backend only (single-threaded under Deno), not ${backend}`;
  }
  if (!optimizer.shardPlan) {
    return `${optimizerName} preconditions with whole-batch factors, which every shard would have to gather each step`;
  }
  if (model.plain.length > 0) {
    return "batch normalization's statistics span the whole batch";
  }
  if (hasLayer(spec, "dropout")) {
    return "dropout draws one mask per batch, not per sample";
  }
  return undefined;
}

/** Whether a layer of `type` appears anywhere in the spec (residual blocks nest). */
function hasLayer(node: unknown, type: string): boolean {
  if (Array.isArray(node)) return node.some((n) => hasLayer(n, type));
  if (node === null || typeof node !== "object") return false;
  const o = node as Record<string, unknown>;
  return o.type === type || Object.values(o).some((v) => hasLayer(v, type));
}
