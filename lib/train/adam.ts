/**
 * Adam with named state, so checkpoints can save and resume it. Runs as
 * one `GlyphnetAdam` kernel call for all variables
 * (lib/backend/fused_kernels.ts) when the active backend registers it, else
 * as tfjs ops.
 * Keras's form: lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ); w −= lr_t·m/(√v + ε).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADAM,
  type ADAM_INPUTS,
  type AdamAttrs,
  backendHasKernels,
  numberedInputs,
  runKernelInto,
} from "../backend/fused_kernels.ts";

/** Adam's hyperparameters. */
export interface AdamOptions {
  learning_rate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Adam's state for one set of named variables. */
export class Adam {
  readonly options: AdamOptions;
  /** Updates applied so far. */
  iterations = 0;
  readonly #m = new Map<string, tf.Variable>();
  readonly #v = new Map<string, tf.Variable>();

  /** Creates zeroed moments for each named variable. */
  constructor(variables: Map<string, tf.Variable>, options: AdamOptions) {
    this.options = options;
    // tf.variable shares the zeros' data but leaves that tensor alive: dispose it.
    const zeros = (w: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(w), false));
    for (const [name, w] of variables) {
      this.#m.set(name, zeros(w));
      this.#v.set(name, zeros(w));
    }
  }

  /** Applies one update; `grads` maps variable names to gradients. */
  apply(variables: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): void {
    this.iterations++;
    const { learning_rate: lr, beta1: b1, beta2: b2, epsilon } = this.options;
    const t = this.iterations;
    const lrT = lr * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
    if (backendHasKernels(ADAM)) {
      // One backend kernel call instead of ~12 tfjs ops per variable.
      this.#applyKernel(variables, grads, { stepSize: lrT, beta1: b1, beta2: b2, epsilon });
      return;
    }
    tf.tidy(() => {
      for (const [name, g] of grads) {
        const w = variables.get(name)!;
        const m = this.#m.get(name)!;
        const v = this.#v.get(name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        w.assign(tf.sub(w, tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), epsilon))));
      }
    });
  }

  /** One `GlyphnetAdam` kernel call on every variable with a gradient: new values and moments, assigned. */
  #applyKernel(
    variables: Map<string, tf.Variable>,
    grads: Map<string, tf.Tensor>,
    attrs: AdamAttrs,
  ): void {
    const groups: Record<typeof ADAM_INPUTS[number], tf.Tensor>[] = [];
    const targets: tf.Variable[] = [];
    for (const [name, grad] of grads) {
      const [value, m, v] = [variables.get(name)!, this.#m.get(name)!, this.#v.get(name)!];
      groups.push({ value, grad, m, v });
      targets.push(value, m, v);
    }
    if (groups.length > 0) runKernelInto(ADAM, numberedInputs(groups), attrs, targets);
  }

  /** The moments by name (`<var>/m`, `<var>/v`), for checkpoints. */
  stateTensors(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, m] of this.#m) out.set(`${name}/m`, m);
    for (const [name, v] of this.#v) out.set(`${name}/v`, v);
    return out;
  }

  /** Frees the moments. */
  dispose(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
  }
}
