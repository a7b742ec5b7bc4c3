/** Builds the optimizer a spec names. */
import type { OptimizerSpec } from "../spec.ts";
import type { PlainParameter, WeightSite } from "../layers/mod.ts";
import type { CoefficientStore } from "../types.ts";
import {
  type BaseOptimizer,
  FirstOrderOptimizer,
  type Optimizer,
} from "./optimizer.ts";
import { AdamwRule, MomentumRule } from "./update_rules.ts";
import { SmwOptimizer } from "./smw_optimizer.ts";
import { KfacOptimizer } from "./kfac_optimizer.ts";
import { ShampooOptimizer } from "./shampoo_optimizer.ts";
import { EvaOptimizer } from "./eva_optimizer.ts";

export type { Optimizer, StepContext } from "./optimizer.ts";

/**
 * An optimizer spec whose `lr` is a number: `"auto"` resolved by the range
 * test. Optimizers are only ever built from this, so none can see `"auto"`.
 */
export type ResolvedOptimizerSpec = OptimizerSpec extends infer S
  ? S extends { lr: unknown } ? Omit<S, "lr"> & { lr: number } : never
  : never;

/** `spec` with `lr` in place of its own (a number or `"auto"`). */
export function resolveOptimizerSpec(
  spec: OptimizerSpec,
  lr: number,
): ResolvedOptimizerSpec {
  return { ...spec, lr };
}

/** The momentum rule of the optimizers that use one. */
function momentumRule(
  spec: {
    lr: number;
    momentum: number;
    nesterov?: boolean;
    weight_decay: number;
  },
  sites: WeightSite[],
): MomentumRule {
  return new MomentumRule(
    spec.lr,
    spec.momentum,
    spec.nesterov ?? false,
    spec.weight_decay,
    sites,
  );
}

/**
 * One optimizer for `sites`, configured from the validated spec; `plain`
 * parameters (batch-norm scale and shift) take its base update rule with
 * their mean gradient.
 */
export function createOptimizer(
  spec: ResolvedOptimizerSpec,
  sites: WeightSite[],
  store: CoefficientStore,
  plain: readonly PlainParameter[] = [],
): Optimizer {
  const optimizer = preconditioner(spec, sites, store);
  optimizer.addPlain(plain);
  return optimizer;
}

function preconditioner(
  spec: ResolvedOptimizerSpec,
  sites: WeightSite[],
  store: CoefficientStore,
): BaseOptimizer {
  switch (spec.name) {
    case "sgd":
      return new FirstOrderOptimizer(
        sites,
        momentumRule(spec, sites),
      );
    case "adamw":
      return new FirstOrderOptimizer(
        sites,
        new AdamwRule(
          spec.lr,
          spec.beta1,
          spec.beta2,
          spec.epsilon,
          spec.weight_decay,
          sites,
        ),
      );
    case "ngd":
    case "fngd":
      return new SmwOptimizer(
        sites,
        momentumRule(spec, sites),
        spec.damping,
        spec.name === "ngd" ? { everyStep: true } : {
          everyStep: false,
          refreshEvery: spec.refresh_every,
          auto: spec.refresh === "auto",
          threshold: spec.refresh_threshold,
          stalenessSamples: spec.staleness_samples,
        },
        store,
      );
    case "kfac":
      return new KfacOptimizer(
        sites,
        momentumRule(spec, sites),
        spec.damping,
        spec.factor_decay,
        spec.inv_every,
        spec.factor_every,
      );
    case "shampoo":
      return new ShampooOptimizer(sites, momentumRule(spec, sites), {
        epsilon: spec.epsilon,
        updateEvery: spec.update_every,
        beta: spec.beta,
        graft: spec.graft,
        blockSize: spec.block_size,
      });
    case "eva":
      return new EvaOptimizer(sites, momentumRule(spec, sites), {
        damping: spec.damping,
        factorDecay: spec.factor_decay,
        klClip: spec.kl_clip,
        dampingForm: spec.damping_form,
      });
  }
}
