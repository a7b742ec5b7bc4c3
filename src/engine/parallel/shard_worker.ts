/**
 * A data-parallel shard: a Deno Worker with its own backend and model
 * replica. Each step it takes the run's weights, runs forward and backward
 * on its rows of the batch, and answers with its part of the direction, or
 * with its captures when the run needs the whole batch (Gram matrices);
 * then, on request, its part of a direction weighted by coefficients solved
 * from them. It keeps no optimizer state: the run's thread owns it.
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { HostSplit } from "../batches.ts";
import type { SiteCapture } from "../layers/mod.ts";
import { SequentialModel } from "../model.ts";
import type { LossName } from "../spec_fields.ts";
import { stepGrads } from "../step_grads.ts";
import type { FromShard, ToShard } from "./shard_messages.ts";
import {
  hostDirections,
  hostScope,
  hostTensor,
  partialDirections,
  transferables,
} from "./shard_math.ts";

interface Replica {
  model: SequentialModel;
  variables: tf.Variable[];
  loss: LossName;
  split: HostSplit;
}

let replica: Replica | undefined;
/** The last step's tensors, kept for a `direction` request. */
let last:
  | {
    captures: SiteCapture[];
    outGrads: tf.Tensor2D[];
    m: number;
    lo: number;
    hi: number;
  }
  | undefined;

function send(message: FromShard, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

function forget(): void {
  if (!last) return;
  for (const c of last.captures) {
    tf.dispose([
      c.inputs,
      ...(c.inputsT ? [c.inputsT] : []),
      ...(c.withOnes ? [c.withOnes] : []),
    ]);
  }
  tf.dispose(last.outGrads);
  last = undefined;
}

async function handle(msg: ToShard): Promise<void> {
  switch (msg.type) {
    case "init": {
      await initBackend(msg.backend, { wasmDir: msg.wasmDir });
      const model = new SequentialModel(msg.model, msg.seed);
      const s = msg.split;
      replica = {
        model,
        variables: [...model.variables().values()],
        loss: msg.loss,
        split: new HostSplit(
          s.x,
          s.targets,
          s.count,
          s.inputShape,
          s.targetWidth,
          s.x instanceof Int32Array,
        ),
      };
      send({ type: "ready" });
      return;
    }
    case "step": {
      const r = replica!;
      forget();
      r.variables.forEach((v, i) =>
        tf.tidy(() => v.assign(tf.tensor(msg.weights[i], v.shape)))
      );
      const rows = msg.hi - msg.lo;
      let captures: SiteCapture[] = [];
      let outGrads: tf.Tensor2D[] = [];
      // Only host values leave the tidy; the tensors a `direction` request
      // needs are kept by name.
      const out = hostScope(() => {
        const { x, y } = r.split.rows(msg.start + msg.lo, rows);
        const g = stepGrads(r.model, r.loss, x, y, msg.seed, rows / msg.m);
        const lossSum = g.value.dataSync()[0] * rows;
        const dirs = msg.weights_of_samples &&
          hostDirections(
            partialDirections(
              r.model.trainable,
              g.captures,
              g.outGrads,
              msg.weights_of_samples,
              msg.m,
              msg.lo,
              msg.hi,
            ),
          );
        const gathered = msg.gather
          ? g.captures.map((c, i) => ({
            inputs: hostTensor(c.inputs),
            outGrad: g.outGrads[i].dataSync() as Float32Array,
          }))
          : undefined;
        captures = g.captures;
        for (const c of captures) {
          if (c.inputsT) tf.keep(c.inputsT);
          if (c.withOnes) tf.keep(c.withOnes);
        }
        outGrads = g.outGrads.map((e) => tf.keep(e));
        return { lossSum, dirs, gathered };
      });
      last = { captures, outGrads, m: msg.m, lo: msg.lo, hi: msg.hi };
      send(
        {
          type: "stepped",
          loss_sum: out.lossSum,
          ...(out.dirs ? { direction: out.dirs } : {}),
          ...(out.gathered ? { captures: out.gathered } : {}),
        },
        transferables(out.dirs),
      );
      return;
    }
    case "direction": {
      const l = last!;
      const dirs = hostScope(() =>
        hostDirections(
          partialDirections(
            replica!.model.trainable,
            l.captures,
            l.outGrads,
            msg.weights_of_samples,
            l.m,
            l.lo,
            l.hi,
          ),
        )
      );
      send({ type: "direction", direction: dirs }, transferables(dirs));
      return;
    }
    case "gram_strips": {
      const l = last!;
      const sites = replica!.model.trainable;
      // Host rows in, host blocks out: the kernel needs no tensors.
      const blocks = msg.sites.flatMap((index, j) =>
        msg.strips.map(([lo, hi]) =>
          sites[index].math.gramStrip!(
            msg.captures[j].inputs.data as Float32Array,
            msg.captures[j].outGrad,
            l.m,
            lo,
            hi,
          )
        )
      );
      send(
        { type: "gram_strips", blocks },
        blocks.map((b) => b.buffer as ArrayBuffer),
      );
      return;
    }
    case "close":
      forget();
      replica?.model.dispose();
      self.close();
  }
}

// One message at a time, in order: a step's direction request follows it.
let queue = Promise.resolve();
self.onmessage = (event: MessageEvent<ToShard>) => {
  queue = queue.then(() => handle(event.data)).catch((err) => {
    send({
      type: "failed",
      message: err instanceof Error ? err.message : String(err),
    });
  });
};
