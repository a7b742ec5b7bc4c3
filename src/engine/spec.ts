/**
 * The job spec: one zod schema shared by the CLI, the engine and the HTTP API,
 * so that what the API accepts is exactly what the engine can train.
 */
import { z } from "zod";
import { syntheticBytes } from "./data/synthetic_size.ts";
import {
  MAX_SEQUENCE_LENGTH,
  MAX_TEST_FRACTION,
} from "./data/parallel_text.ts";
import { PAIR_OVERHEAD, TOKENIZERS } from "./data/tokenizer.ts";
import { translationBytes } from "./data/translation_size.ts";
import { formatBytes } from "./units.ts";
import { LOSSES, positiveInt, TARGETS } from "./spec_fields.ts";
import { LayerSpec } from "./layers/plans.ts";

export {
  type Activation,
  ACTIVATIONS,
  LOSSES,
  type LossName,
  type TargetKind,
  TARGETS,
} from "./spec_fields.ts";
/** Any layer, discriminated by `type`: the union of the kinds' specs (layers/plans.ts). */
export { LayerSpec } from "./layers/plans.ts";
/** Optimizer names the engine implements. */
export const OPTIMIZER_NAMES = [
  "sgd",
  "adamw",
  "ngd",
  "fngd",
  "kfac",
  "shampoo",
  "eva",
] as const;

/** A sequential classifier; the last layer's outputs are logits. */
export const ModelSpec = z.strictObject({
  input_shape: z.array(positiveInt("input_shape", 4096)).min(1).max(3),
  layers: z.array(LayerSpec).min(1).max(64),
  init: z.enum(["he", "glorot"]).optional().describe(
    "weight initialisation; default he for relu layers, glorot otherwise",
  ),
});

/**
 * An optimizer's `lr`: a positive number up to `max`, or `"auto"`, which
 * picks one by a learning-rate range test before epoch 1 (lr_range.ts).
 */
function learningRate(max: number, fallback: number) {
  return z.union([z.number().positive().max(max), z.literal("auto")], {
    error: (issue) =>
      `expected a number in (0, ${max}] or "auto", got ${
        JSON.stringify(issue.input)
      }`,
  }).default(fallback).describe(
    `learning rate in (0, ${max}], or "auto": a learning-rate range test before epoch 1 picks it (the lr_range event reports it)`,
  );
}

const lr = learningRate(100, 0.1);
const weightDecay = z.number().min(0).max(1).default(0);

/** Plain SGD with optional (Nesterov) momentum. */
export const SgdSpec = z.strictObject({
  name: z.literal("sgd"),
  lr,
  momentum: z.number().min(0).max(0.999).default(0.9),
  nesterov: z.boolean().default(false),
  weight_decay: weightDecay,
});

/** Adam with decoupled weight decay. */
export const AdamwSpec = z.strictObject({
  name: z.literal("adamw"),
  lr: learningRate(10, 0.001),
  beta1: z.number().min(0).max(0.9999).default(0.9),
  beta2: z.number().min(0).max(0.99999).default(0.999),
  epsilon: z.number().positive().default(1e-8),
  weight_decay: z.number().min(0).max(1).default(0.01),
});

const smwFields = {
  lr,
  momentum: z.number().min(0).max(0.999).default(0.9),
  nesterov: z.boolean().default(false),
  weight_decay: weightDecay,
  damping: z.number().positive().max(1e12).default(1.0).describe(
    "alpha in lambda = alpha * ||K||_F / M; large behaves like SGD, small like NGD",
  ),
};

/** Exact SMW natural gradient, re-solved at every step. */
export const NgdSpec = z.strictObject({ name: z.literal("ngd"), ...smwFields });

/** Inverse-free fast natural gradient: coefficients solved in epoch 1, reused after. */
export const FngdSpec = z.strictObject({
  name: z.literal("fngd"),
  ...smwFields,
  refresh_every: z.int().min(1).max(1000).optional().describe(
    "recompute coefficients every k epochs; default never (as in the paper)",
  ),
  refresh: z.enum(["never", "auto"]).default("never").describe(
    "auto: in inverse-free epochs, re-solve a (batch, layer) whose Gram diagonal has drifted by more than refresh_threshold since it was solved",
  ),
  // On the Fashion-MNIST MLP the signal of nearly every pair is 0.3-0.4 in
  // epochs 2-3: 0.3 re-solves 70-80% of pairs, 0.45 about 25%, 0.6 about 5%.
  refresh_threshold: z.number().positive().max(1).default(0.5).describe(
    "drift that triggers an auto refresh: the total-variation distance between the per-sample Gram-diagonal distributions now and when solved, in (0, 1]",
  ),
  staleness_samples: z.int().min(0).max(64).default(2).describe(
    "batches per inverse-free epoch re-solved for measurement only (the staleness event); 0 turns the probes off",
  ),
});

/** K-FAC with running-average Kronecker factors. */
export const KfacSpec = z.strictObject({
  name: z.literal("kfac"),
  lr: learningRate(100, 0.01),
  momentum: z.number().min(0).max(0.999).default(0.9),
  weight_decay: weightDecay,
  damping: z.number().positive().max(1e6).default(0.01),
  factor_decay: z.number().min(0).max(0.9999).default(0.95),
  inv_every: z.int().min(1).max(10000).default(20),
  factor_every: z.int().min(1).max(10000).default(1).describe(
    "update the factor averages A and G every k steps (decay factor_decay per update); k = 10 with inv_every = 100 is the usual amortised K-FAC",
  ),
});

/** Shampoo: per-layer `L^-1/4 G R^-1/4` from running Kronecker statistics. */
export const ShampooSpec = z.strictObject({
  name: z.literal("shampoo"),
  lr,
  momentum: z.number().min(0).max(0.999).default(0.9),
  weight_decay: weightDecay,
  epsilon: z.number().positive().max(1e6).default(1e-4).describe(
    "damping added to L and R (after clamping their eigenvalues at 0) before the inverse 4th roots",
  ),
  update_every: z.int().min(1).max(10000).default(20).describe(
    "recompute the inverse roots every k steps; the statistics update every step",
  ),
  beta: z.number().min(0).max(1).default(0.95).describe(
    "running-average decay of L and R: L <- beta L + (1 - beta) G G^T; 1 sums them instead, as in the Shampoo paper",
  ),
  graft: z.enum(["sgd", "none"]).default("sgd").describe(
    "sgd: rescale each layer's direction to its mean gradient's norm, so lr keeps SGD's meaning; none: the raw direction",
  ),
  block_size: z.int().min(8).max(4096).default(128).describe(
    "largest block side: each layer's gradient [dW; db] is split into a grid of near-equal blocks of at most this many rows and columns, each with its own L, R and roots, which bounds the O(n^3) root cost; a layer that fits one block is unblocked Shampoo",
  ),
});

/** Eva: K-FAC with Kronecker vectors and Sherman-Morrison inverses. */
export const EvaSpec = z.strictObject({
  name: z.literal("eva"),
  lr,
  momentum: z.number().min(0).max(0.999).default(0.9),
  weight_decay: weightDecay,
  damping: z.number().positive().max(1e6).default(0.03).describe(
    "gamma in (k k^T + gamma I)^-1, k = abar kron ebar the Kronecker vectors (or in each factor, see damping_form)",
  ),
  factor_decay: z.number().min(0).max(0.9999).default(0.95).describe(
    "running-average decay of the Kronecker vectors (weight of the old average)",
  ),
  kl_clip: z.number().min(0).max(1e6).default(0.001).describe(
    "scale updates by min(1, sqrt(kl_clip / (lr^2 <P, G>))), as the Eva paper; 0 turns it off",
  ),
  damping_form: z.enum(["kronecker", "factors"]).default("kronecker").describe(
    "kronecker: damp the rank-one Kronecker product as a whole (the paper); factors: damp each vector's factor, (a a^T + gamma I)^-1 G (g g^T + gamma I)^-1",
  ),
});

/** Any optimizer, discriminated by `name`. */
export const OptimizerSpec = z.discriminatedUnion("name", [
  SgdSpec,
  AdamwSpec,
  NgdSpec,
  FngdSpec,
  KfacSpec,
  ShampooSpec,
  EvaSpec,
]);

/**
 * Largest synthetic dataset, generator working memory included: 512 MiB is
 * 170k Fashion-MNIST-sized samples' worth, ample for tests and benchmarks, and
 * a sixth of a worker's default MAX_JOB_BYTES, so data never crowds out the model.
 */
export const MAX_SYNTHETIC_BYTES = 512 * 1024 ** 2;

/** Seeded synthetic classification data (vectors or images). */
export const SyntheticDatasetSpec = z.strictObject({
  name: z.literal("synthetic"),
  samples: z.int().min(2).max(1_000_000).default(4096),
  features: z.int().min(1).max(100_000).optional(),
  shape: z.array(z.int().min(1).max(4096)).min(1).max(3).optional(),
  classes: z.int().min(2).max(1000).default(10),
  seed: z.int().default(1),
  test_samples: z.int().min(0).max(1_000_000).default(0),
}).refine((d) => !(d.features !== undefined && d.shape !== undefined), {
  message: "give either features or shape, not both",
  path: ["shape"],
}).superRefine((d, ctx) => {
  // Per-field maxima allow 1e6 samples of 4096x4096x3: bound the product too,
  // before the generator allocates it (its float64 basis alone can be GiBs).
  const bytes = syntheticBytes(d);
  if (bytes.total > MAX_SYNTHETIC_BYTES) {
    ctx.addIssue({
      code: "custom",
      input: d,
      message: `synthetic dataset would take ${formatBytes(bytes.total)} (${
        formatBytes(bytes.samples)
      } of samples + ${
        formatBytes(bytes.generator)
      } of generator basis), at most ${
        formatBytes(MAX_SYNTHETIC_BYTES)
      }; lower samples, test_samples, features or shape`,
    });
  }
});

/** A named IDX dataset found in the data directory. */
export const NamedDatasetSpec = z.strictObject({
  name: z.enum(["fashion-mnist", "mnist"]),
  limit: z.int().min(1).optional().describe(
    "use only the first N training samples",
  ),
});

/** CLI only: a numeric CSV with a header row. */
export const CsvDatasetSpec = z.strictObject({
  format: z.literal("csv"),
  path: z.string().min(1),
  label_column: z.string().min(1).default("label"),
  shape: z.array(z.int().min(1)).min(1).max(3).optional(),
});

/** CLI only: IDX image and label files (raw or gzipped). */
export const IdxDatasetSpec = z.strictObject({
  format: z.literal("idx"),
  images: z.string().min(1),
  labels: z.string().min(1),
  test_images: z.string().min(1).optional(),
  test_labels: z.string().min(1).optional(),
});

/** CLI only: UTF-8 `source<TAB>target` lines, encoded as token sequences. */
export const ParallelTextDatasetSpec = z.strictObject({
  format: z.literal("parallel_text"),
  path: z.string().min(1),
  test_path: z.string().min(1).optional(),
  test_fraction: z.number().gt(0).max(MAX_TEST_FRACTION).optional().describe(
    "hold out this fraction of the lines as the test split (a fixed-seed choice)",
  ),
  tokenizer: z.enum(TOKENIZERS).default("char").describe(
    "char: Unicode characters; word: words separated by whitespace",
  ),
  max_length: z.int().min(PAIR_OVERHEAD + 2).max(MAX_SEQUENCE_LENGTH)
    .optional().describe(
      "tokens per row (BEGIN source SEP target END, padded); default the longest pair's",
    ),
}).refine(
  (d) => !(d.test_path !== undefined && d.test_fraction !== undefined),
  {
    message: "give either test_path or test_fraction, not both",
    path: ["test_fraction"],
  },
);

/**
 * Seeded translation pairs (numbers in words and digits, dates in ISO and
 * long form), as character sequences of TRANSLATION_LENGTH tokens.
 */
export const TranslationDatasetSpec = z.strictObject({
  name: z.literal("synthetic-translation"),
  pairs: z.int().min(1).max(1_000_000).default(20_000),
  seed: z.int().default(1),
  test_pairs: z.int().min(0).max(100_000).default(0),
}).superRefine((d, ctx) => {
  const bytes = translationBytes(d);
  if (bytes.total > MAX_SYNTHETIC_BYTES) {
    ctx.addIssue({
      code: "custom",
      input: d,
      message: `synthetic-translation dataset would take ${
        formatBytes(bytes.total)
      } (${formatBytes(bytes.samples)} of rows + ${
        formatBytes(bytes.generator)
      } of text while generating), at most ${
        formatBytes(MAX_SYNTHETIC_BYTES)
      }; lower pairs or test_pairs`,
    });
  }
});

/** API only: a dataset uploaded through POST /v1/datasets. */
export const UploadedDatasetSpec = z.strictObject({ id: z.string().min(1) });

/** Every dataset form; which forms a caller accepts is the caller's choice. */
export const DatasetSpec = z.union([
  SyntheticDatasetSpec,
  TranslationDatasetSpec,
  NamedDatasetSpec,
  CsvDatasetSpec,
  IdxDatasetSpec,
  ParallelTextDatasetSpec,
  UploadedDatasetSpec,
]);

/** The learning rate stays at the optimizer's `lr`. */
export const ConstantScheduleSpec = z.strictObject({
  name: z.literal("constant"),
});

/** Linear warmup over `warmup_epochs`, then cosine decay to 0 at the end of training, per step. */
export const CosineScheduleSpec = z.strictObject({
  name: z.literal("cosine"),
  warmup_epochs: z.int().min(0).max(1000).default(0),
});

/** `lr * gamma^k` once k milestones (epoch numbers) have passed, as PyTorch's MultiStepLR. */
export const StepScheduleSpec = z.strictObject({
  name: z.literal("step"),
  milestones: z.array(positiveInt("milestones", 1000)).min(1).max(100),
  gamma: z.number().positive().max(1).default(0.1),
});

/** A learning-rate schedule: a pure function of the global step, for every optimizer. */
export const ScheduleSpec = z.discriminatedUnion("name", [
  ConstantScheduleSpec,
  CosineScheduleSpec,
  StepScheduleSpec,
]);

/** The fields of a job whose validity depends on each other. */
interface CrossFields {
  model: z.infer<typeof ModelSpec>;
  loss: (typeof LOSSES)[number];
  target: (typeof TARGETS)[number];
  epochs: number;
  schedule: z.infer<typeof ScheduleSpec>;
}

/**
 * Checks between fields, each issue at the JSON path of the field to change:
 * an autoencoder needs a vector loss and as many output units as input
 * values; schedules must fit in `epochs`.
 */
function checkCrossFields(
  spec: CrossFields,
  ctx: { addIssue(issue: z.core.$ZodRawIssue): void },
): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", input: spec, path, message });
  if (spec.target === "input") {
    if (spec.loss === "sequence_cross_entropy") {
      issue(
        ["target"],
        'sequence_cross_entropy predicts each next target token; leave target at "labels", got "input"',
      );
    }
    if (spec.loss === "softmax_cross_entropy") {
      issue(
        ["loss"],
        'target "input" (an autoencoder) needs a loss over target vectors, sigmoid_cross_entropy or mse, got softmax_cross_entropy',
      );
    }
    const last = spec.model.layers.length - 1;
    const layer = spec.model.layers[last];
    const width = spec.model.input_shape.reduce((a, b) => a * b, 1);
    // Refinements also run after non-fatal issues (e.g. an empty layer list).
    if (layer && "units" in layer && layer.units !== width) {
      issue(
        ["model", "layers", last, "units"],
        `target "input" reconstructs the input: the last layer needs ${width} units (input_shape [${spec.model.input_shape}]), got ${layer.units}`,
      );
    }
  }
  const schedule = spec.schedule;
  if (schedule.name === "cosine" && schedule.warmup_epochs >= spec.epochs) {
    issue(
      ["schedule", "warmup_epochs"],
      `warmup_epochs must be less than epochs (${spec.epochs}), got ${schedule.warmup_epochs}`,
    );
  }
  if (schedule.name === "step") {
    schedule.milestones.forEach((m, i) => {
      if (m > spec.epochs) {
        issue(
          ["schedule", "milestones", i],
          `milestones must be at most epochs (${spec.epochs}), got ${m}`,
        );
      } else if (i > 0 && m <= schedule.milestones[i - 1]) {
        issue(
          ["schedule", "milestones", i],
          `milestones must be strictly increasing, got ${m} after ${
            schedule.milestones[i - 1]
          }`,
        );
      }
    });
  }
}

/**
 * A whole training job, as the CLI config and the API body. Cross-field
 * checks are refinements: extend it with `safeExtend`, which keeps them.
 */
export const JobSpec = z.strictObject({
  model: ModelSpec,
  dataset: DatasetSpec,
  optimizer: OptimizerSpec,
  loss: z.enum(LOSSES).default("softmax_cross_entropy").describe(
    "softmax_cross_entropy for class labels; sigmoid_cross_entropy or mse for target vectors; a sample's loss sums over output units",
  ),
  target: z.enum(TARGETS).default("labels").describe(
    "labels: the class label, one-hot; input: the input itself, flattened (an autoencoder)",
  ),
  schedule: ScheduleSpec.default({ name: "constant" }),
  epochs: positiveInt("epochs", 1000).default(10),
  batch_size: positiveInt("batch_size", 4096).default(128),
  seed: z.int().default(42),
  validation_split: z.number().min(0).max(0.9).default(0.1),
  val_bleu_rows: z.int().min(0).max(4096).default(256).describe(
    "token sequences: validation rows greedily decoded for val_bleu after each epoch (the first ones of the split); 0 skips val_bleu",
  ),
  metadata: z.record(z.string(), z.string()).optional(),
}).superRefine(checkCrossFields);

/** The validated spec, defaults filled in. */
export type JobSpec = z.infer<typeof JobSpec>;
/** The spec as a client may write it, defaults optional. */
export type JobSpecInput = z.input<typeof JobSpec>;
export type ModelSpec = z.infer<typeof ModelSpec>;
export type OptimizerSpec = z.infer<typeof OptimizerSpec>;
export type DatasetSpec = z.infer<typeof DatasetSpec>;
export type ParallelTextDatasetSpec = z.infer<typeof ParallelTextDatasetSpec>;
export type TranslationDatasetSpec = z.infer<typeof TranslationDatasetSpec>;
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];
