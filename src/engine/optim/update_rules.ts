/**
 * Update rules turn a per-layer direction into a weight update. Their state
 * lives in named `tf.Variable`s (`dense_1/kernel/momentum`), so checkpoints
 * explain themselves, as TF.js's own optimizers name their slots.
 */
import * as tf from "@tensorflow/tfjs";
import type { PlainParameter, SiteGrad, WeightSite } from "../layers/mod.ts";

/** Applies directions to weights and owns the slots it needs. */
export interface UpdateRule {
  /**
   * The learning rate of the next `apply`: the spec's `lr` until the trainer
   * sets each step's from the schedule (schedule.ts).
   */
  lr: number;
  /** Updates `site`'s kernel and bias from `direction`; call inside `tf.tidy`. */
  apply(site: WeightSite, direction: SiteGrad): void;
  /**
   * Creates the slots of parameters outside any site (batch-norm scale and
   * shift), so a checkpoint has them from the start: `<name>/momentum`, ...
   */
  addPlain(params: readonly PlainParameter[]): void;
  /** Updates a plain parameter from its mean gradient, as a kernel would be; inside `tf.tidy`. */
  applyPlain(param: PlainParameter, grad: tf.Tensor): void;
  /** Called once per optimizer step, before `apply` for any layer. */
  beginStep(): void;
  /** Slot variables by name. */
  slots(): Map<string, tf.Variable>;
  scalars(): Record<string, number>;
  loadScalars(scalars: Record<string, number>): void;
  dispose(): void;
}

function slotFor(
  store: Map<string, tf.Variable>,
  owner: tf.Variable,
  name: string,
): tf.Variable {
  let v = store.get(name);
  if (!v) {
    // tidy frees the initial zeros; the variable keeps its own reference.
    v = tf.tidy(() => tf.variable(tf.zerosLike(owner), false));
    store.set(name, v);
  }
  return v;
}

/** SGD with momentum, optional Nesterov, and L2 weight decay added to the direction. */
export class MomentumRule implements UpdateRule {
  readonly #slots = new Map<string, tf.Variable>();

  constructor(
    public lr: number,
    readonly momentum: number,
    readonly nesterov: boolean,
    readonly weightDecay: number,
    sites: WeightSite[],
  ) {
    // Create slots eagerly so a checkpoint of step 0 already has every name.
    if (momentum > 0) {
      for (const s of sites) {
        slotFor(this.#slots, s.kernel, `${s.name}/kernel/momentum`);
        if (s.bias) slotFor(this.#slots, s.bias, `${s.name}/bias/momentum`);
      }
    }
  }

  beginStep(): void {}

  apply(site: WeightSite, direction: SiteGrad): void {
    this.#update(site.kernel, direction.kernel, `${site.name}/kernel`);
    if (site.bias && direction.bias) {
      this.#update(site.bias, direction.bias, `${site.name}/bias`);
    }
  }

  addPlain(params: readonly PlainParameter[]): void {
    if (this.momentum === 0) return;
    for (const p of params) {
      slotFor(this.#slots, p.variable, `${p.name}/momentum`);
    }
  }

  applyPlain(param: PlainParameter, grad: tf.Tensor): void {
    this.#update(param.variable, grad, param.name);
  }

  #update(w: tf.Variable, d: tf.Tensor, name: string): void {
    const g = this.weightDecay > 0 ? tf.add(d, tf.mul(w, this.weightDecay)) : d;
    if (this.momentum === 0) {
      w.assign(tf.sub(w, tf.mul(g, this.lr)));
      return;
    }
    const v = slotFor(this.#slots, w, `${name}/momentum`);
    const vNew = tf.add(tf.mul(v, this.momentum), g);
    v.assign(vNew);
    const step = this.nesterov ? tf.add(g, tf.mul(vNew, this.momentum)) : vNew;
    w.assign(tf.sub(w, tf.mul(step, this.lr)));
  }

  slots(): Map<string, tf.Variable> {
    return this.#slots;
  }

  scalars(): Record<string, number> {
    return {};
  }

  loadScalars(): void {}

  dispose(): void {
    for (const v of this.#slots.values()) v.dispose();
    this.#slots.clear();
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter). */
export class AdamwRule implements UpdateRule {
  readonly #slots = new Map<string, tf.Variable>();
  #t = 0;

  constructor(
    public lr: number,
    readonly beta1: number,
    readonly beta2: number,
    readonly epsilon: number,
    readonly weightDecay: number,
    sites: WeightSite[],
  ) {
    for (const s of sites) {
      const params: [tf.Variable, string][] = [[s.kernel, `${s.name}/kernel`]];
      if (s.bias) params.push([s.bias, `${s.name}/bias`]);
      for (const [w, name] of params) {
        slotFor(this.#slots, w, `${name}/adam_m`);
        slotFor(this.#slots, w, `${name}/adam_v`);
      }
    }
  }

  beginStep(): void {
    this.#t += 1;
  }

  apply(site: WeightSite, direction: SiteGrad): void {
    this.#update(site.kernel, direction.kernel, `${site.name}/kernel`);
    if (site.bias && direction.bias) {
      this.#update(site.bias, direction.bias, `${site.name}/bias`);
    }
  }

  addPlain(params: readonly PlainParameter[]): void {
    for (const p of params) {
      slotFor(this.#slots, p.variable, `${p.name}/adam_m`);
      slotFor(this.#slots, p.variable, `${p.name}/adam_v`);
    }
  }

  applyPlain(param: PlainParameter, grad: tf.Tensor): void {
    this.#update(param.variable, grad, param.name);
  }

  #update(w: tf.Variable, g: tf.Tensor, name: string): void {
    const m = slotFor(this.#slots, w, `${name}/adam_m`);
    const v = slotFor(this.#slots, w, `${name}/adam_v`);
    const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
    const vNew = tf.add(
      tf.mul(v, this.beta2),
      tf.mul(tf.square(g), 1 - this.beta2),
    );
    m.assign(mNew);
    v.assign(vNew);
    const mHat = tf.div(mNew, 1 - this.beta1 ** this.#t);
    const vHat = tf.div(vNew, 1 - this.beta2 ** this.#t);
    const update = tf.add(
      tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)),
      tf.mul(w, this.weightDecay),
    );
    w.assign(tf.sub(w, tf.mul(update, this.lr)));
  }

  slots(): Map<string, tf.Variable> {
    return this.#slots;
  }

  scalars(): Record<string, number> {
    return { "adamw/step": this.#t };
  }

  loadScalars(scalars: Record<string, number>): void {
    this.#t = scalars["adamw/step"] ?? 0;
  }

  dispose(): void {
    for (const v of this.#slots.values()) v.dispose();
    this.#slots.clear();
  }
}
