import { type ModuleVariable, type Tensor, isGenviewError, selectBackend, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Optimizer, type OptimizerConfigInput, clipGradNorm, createOptimizer } from '../src/optim';

/*
 * Known answers: every optimizer's first updates on a small quadratic problem, against the same
 * formulas (PyTorch's) written out in plain double-precision JS below. tfjs runs in float32, so the
 * comparison allows a relative error of ~1e-5.
 */

beforeAll(async () => {
  // The cpu kernels are plain JS float32 arithmetic: deterministic, so state round trips compare bit for bit.
  await selectBackend({ force: 'cpu' });
});

type Vec = number[];
type Params = Record<string, Vec>;

/** The toy problem: L = Σ c·(p − t)², a weight w (decayed) and a bias b (decay=false); r is a frozen buffer. */
const INIT: Params = { w: [1.0, -2.0], b: [0.5] };
const CURV: Params = { w: [1.5, 0.5], b: [2.0] };
const TARGET: Params = { w: [0.2, 0.3], b: [-1.0] };
const DECAY: Record<string, boolean> = { w: true, b: false };
const RUNNING = [3, 4];
/** A different lr each step, so a wrong step index or a cached lr would show. */
const LRS = [0.1, 0.05, 0.2];

function gradOf(name: string, p: Vec): Vec {
  return p.map((x, i) => 2 * CURV[name][i] * (x - TARGET[name][i]));
}

function makeVariables(init: Params = INIT): ModuleVariable[] {
  return [
    { name: 'layer.w', variable: tf.variable(tf.tensor1d(init.w)), trainable: true, decay: true },
    { name: 'layer.b', variable: tf.variable(tf.tensor1d(init.b)), trainable: true, decay: false },
    { name: 'bn.running_mean', variable: tf.variable(tf.tensor1d(RUNNING), false), trainable: false, decay: false },
  ];
}

const short = (full: string) => (full === 'layer.w' ? 'w' : 'b');

/** Gradients from the variables' current (float32) values; a gradient for the frozen buffer too, which must be ignored. */
function gradsFor(vars: ModuleVariable[]): Map<string, Tensor> {
  const grads = new Map<string, Tensor>();
  for (const v of vars) {
    if (v.name === 'bn.running_mean') grads.set(v.name, tf.ones([2]));
    else grads.set(v.name, tf.tensor1d(gradOf(short(v.name), Array.from(v.variable.dataSync()))));
  }
  return grads;
}

function disposeAll(grads: Map<string, Tensor>): void {
  for (const g of grads.values()) g.dispose();
}

function values(vars: ModuleVariable[]): Record<string, Float32Array> {
  return Object.fromEntries(vars.map((v) => [v.name, Float32Array.from(v.variable.dataSync())]));
}

/** Runs the optimizer for lrs.length steps; returns the values after each step. */
function run(opt: Optimizer, vars: ModuleVariable[], lrs: number[] = LRS): Record<string, Float32Array>[] {
  const out: Record<string, Float32Array>[] = [];
  for (const lr of lrs) {
    const grads = gradsFor(vars);
    opt.step(grads, lr);
    disposeAll(grads);
    out.push(values(vars));
  }
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: Vec, rtol = 1e-5, atol = 1e-7): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (±${tol})`);
    }
  }
}

function expectTrajectory(got: Record<string, Float32Array>[], want: Params[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, s) => {
    expectClose(g['layer.w'], want[s].w);
    expectClose(g['layer.b'], want[s].b);
    // The frozen buffer never moves, bit for bit.
    expect(Array.from(g['bn.running_mean'])).toEqual(RUNNING);
  });
}

const norm = (a: Vec) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
const clone = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, [...v]]));

/* ---------------------------------- reference implementations ---------------------------------- */

/** torch.optim.SGD (dampening 0). */
function refSgd(o: { momentum: number; nesterov: boolean; weightDecay: number }): Params[] {
  const p = clone(INIT);
  const buf: Params = {};
  return LRS.map((lr) => {
    for (const k of Object.keys(p)) {
      const wd = DECAY[k] ? o.weightDecay : 0;
      const g = gradOf(k, p[k]);
      let d = g.map((gi, i) => gi + wd * p[k][i]);
      if (o.momentum !== 0) {
        buf[k] = buf[k] === undefined ? [...d] : buf[k].map((bi, i) => o.momentum * bi + d[i]);
        d = o.nesterov ? d.map((di, i) => di + o.momentum * buf[k][i]) : buf[k];
      }
      p[k] = p[k].map((x, i) => x - lr * d[i]);
    }
    return clone(p);
  });
}

/** solo-learn's LARS (from Lightning Bolts). */
function refLars(o: { momentum: number; weightDecay: number; eta: number; clipLr: boolean; exclude: boolean; eps?: number }): Params[] {
  const eps = o.eps ?? 1e-8;
  const p = clone(INIT);
  const buf: Params = {};
  return LRS.map((lr) => {
    for (const k of Object.keys(p)) {
      const g = gradOf(k, p[k]);
      let d = g;
      if (DECAY[k] || !o.exclude) {
        const wd = DECAY[k] ? o.weightDecay : 0;
        const pn = norm(p[k]);
        const gn = norm(g);
        if (pn !== 0 && gn !== 0) {
          let larsLr = (pn / (gn + pn * wd + eps)) * o.eta;
          if (o.clipLr) larsLr = Math.min(larsLr / lr, 1);
          d = g.map((gi, i) => (gi + wd * p[k][i]) * larsLr);
        }
      }
      buf[k] = buf[k] === undefined ? [...d] : buf[k].map((bi, i) => o.momentum * bi + d[i]);
      p[k] = p[k].map((x, i) => x - lr * buf[k][i]);
    }
    return clone(p);
  });
}

/** torch.optim.Adam / AdamW (amsgrad off). */
function refAdam(o: { decoupled: boolean; beta1: number; beta2: number; eps: number; weightDecay: number }): Params[] {
  const p = clone(INIT);
  const m: Params = { w: [0, 0], b: [0] };
  const v: Params = { w: [0, 0], b: [0] };
  return LRS.map((lr, s) => {
    const t = s + 1;
    for (const k of Object.keys(p)) {
      const wd = DECAY[k] ? o.weightDecay : 0;
      let g = gradOf(k, p[k]);
      if (o.decoupled) p[k] = p[k].map((x) => x * (1 - lr * wd));
      else g = g.map((gi, i) => gi + wd * p[k][i]);
      m[k] = m[k].map((mi, i) => o.beta1 * mi + (1 - o.beta1) * g[i]);
      v[k] = v[k].map((vi, i) => o.beta2 * vi + (1 - o.beta2) * g[i] * g[i]);
      const stepSize = lr / (1 - o.beta1 ** t);
      const bc2 = Math.sqrt(1 - o.beta2 ** t);
      p[k] = p[k].map((x, i) => x - (stepSize * m[k][i]) / (Math.sqrt(v[k][i]) / bc2 + o.eps));
    }
    return clone(p);
  });
}

/* ------------------------------------------- tests ------------------------------------------- */

function trajectory(config: OptimizerConfigInput, lrs: number[] = LRS): Record<string, Float32Array>[] {
  const vars = makeVariables();
  const opt = createOptimizer(config, vars);
  try {
    return run(opt, vars, lrs);
  } finally {
    opt.dispose();
    for (const v of vars) v.variable.dispose();
  }
}

describe('SGD', () => {
  it('first step by hand: w ← w − lr·(g + wd·w), momentum buffer = d', () => {
    // w0 = [1, −2], g0 = 2·[1.5, 0.5]·([1, −2] − [0.2, 0.3]) = [2.4, −2.3]; wd = 0.1 → d = [2.5, −2.5];
    // lr 0.1 → w1 = [0.75, −1.75]. b: g = 2·2·(0.5 + 1) = 6, no decay → b1 = 0.5 − 0.6 = −0.1.
    const [first] = trajectory({ name: 'sgd', momentum: 0.9, weightDecay: 0.1 });
    expectClose(first['layer.w'], [0.75, -1.75]);
    expectClose(first['layer.b'], [-0.1]);
  });

  it('matches PyTorch for three steps, with and without momentum', () => {
    expectTrajectory(trajectory({ name: 'sgd', momentum: 0.9, weightDecay: 0.1 }), refSgd({ momentum: 0.9, nesterov: false, weightDecay: 0.1 }));
    expectTrajectory(trajectory({ name: 'sgd', momentum: 0 }), refSgd({ momentum: 0, nesterov: false, weightDecay: 0 }));
  });

  it('nesterov uses d + μ·buf: the first step is (1 + μ) times the plain one, and later steps follow PyTorch', () => {
    const plain = trajectory({ name: 'sgd', momentum: 0.9 });
    const nest = trajectory({ name: 'sgd', momentum: 0.9, nesterov: true });
    expectTrajectory(nest, refSgd({ momentum: 0.9, nesterov: true, weightDecay: 0 }));
    const plainStep = plain[0]['layer.w'].map((x, i) => x - INIT.w[i]);
    const nestStep = nest[0]['layer.w'].map((x, i) => x - INIT.w[i]);
    expectClose(nestStep, Array.from(plainStep, (x) => 1.9 * x));
    expect(Array.from(nest[2]['layer.w'])).not.toEqual(Array.from(plain[2]['layer.w']));
  });

  it('gives decay=false variables no weight decay', () => {
    const decayed = trajectory({ name: 'sgd', weightDecay: 0.5 });
    const none = trajectory({ name: 'sgd', weightDecay: 0 });
    for (let s = 0; s < LRS.length; s++) {
      expect(Array.from(decayed[s]['layer.b'])).toEqual(Array.from(none[s]['layer.b']));
      expect(Array.from(decayed[s]['layer.w'])).not.toEqual(Array.from(none[s]['layer.w']));
    }
  });
});

describe('LARS', () => {
  it('hand-checked trust ratio on the first step; the excluded bias takes a plain SGD step', () => {
    const lr = LRS[0];
    const [first] = trajectory({ name: 'lars', weightDecay: 0.01, eta: 0.02 });
    // ‖w0‖ = √5, g0 = [2.4, −2.3], ‖g0‖ = √11.05; trust = 0.02·√5 / (√11.05 + 0.01·√5 + 1e-8).
    const trust = (0.02 * Math.sqrt(5)) / (Math.sqrt(11.05) + 0.01 * Math.sqrt(5) + 1e-8);
    expect(trust).toBeCloseTo(0.013363, 5);
    const d = [2.4 + 0.01 * 1, -2.3 + 0.01 * -2];
    expectClose(first['layer.w'], [1 - lr * trust * d[0], -2 - lr * trust * d[1]]);
    // b: decay=false and excluded from adaptation → b1 = 0.5 − 0.1·6.
    expectClose(first['layer.b'], [-0.1]);
  });

  it('matches solo-learn for three steps (defaults, clipLr, no exclusion)', () => {
    expectTrajectory(trajectory({ name: 'lars' }), refLars({ momentum: 0.9, weightDecay: 1e-6, eta: 0.02, clipLr: false, exclude: true }));
    expectTrajectory(
      trajectory({ name: 'lars', weightDecay: 0.01, clipLr: true, excludeFromAdaptation: false }),
      refLars({ momentum: 0.9, weightDecay: 0.01, eta: 0.02, clipLr: true, exclude: false }),
    );
    // With a large eta the clipped factor saturates at 1: LARS degenerates to SGD with decay.
    expectTrajectory(
      trajectory({ name: 'lars', weightDecay: 0.01, eta: 1000, clipLr: true }),
      refLars({ momentum: 0.9, weightDecay: 0.01, eta: 1000, clipLr: true, exclude: true }),
    );
    expectTrajectory(
      trajectory({ name: 'lars', weightDecay: 0.01, eta: 1000, clipLr: true }),
      refSgd({ momentum: 0.9, nesterov: false, weightDecay: 0.01 }),
    );
  });

  it('skips scaling and decay for a zero-norm weight, as solo-learn does', () => {
    const vars = makeVariables({ w: [0, 0], b: [0.5] });
    const opt = createOptimizer({ name: 'lars', weightDecay: 0.1 }, vars);
    const grads = gradsFor(vars);
    const g = Array.from(grads.get('layer.w')!.dataSync());
    opt.step(grads, 0.1);
    disposeAll(grads);
    expectClose(vars[0].variable.dataSync(), [-0.1 * g[0], -0.1 * g[1]]);
    opt.dispose();
    for (const v of vars) v.variable.dispose();
  });
});

describe('Adam and AdamW', () => {
  const betas = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

  it('first AdamW step by hand: decay, then a step of size lr·sign(g)', () => {
    // t = 1: m̂ = g, v̂ = g², so the Adam step is lr·g/(|g| + ε) ≈ lr·sign(g); decay multiplies w by 1 − lr·wd.
    const [first] = trajectory({ name: 'adamw', weightDecay: 0.01 });
    expectClose(first['layer.w'], [1 * (1 - 0.1 * 0.01) - 0.1, -2 * (1 - 0.1 * 0.01) + 0.1]);
    expectClose(first['layer.b'], [0.5 - 0.1]);
  });

  it('matches PyTorch for three steps', () => {
    expectTrajectory(trajectory({ name: 'adamw' }), refAdam({ decoupled: true, ...betas, weightDecay: 0.01 }));
    expectTrajectory(trajectory({ name: 'adamw', weightDecay: 0.5, beta1: 0.8 }), refAdam({ decoupled: true, ...betas, beta1: 0.8, weightDecay: 0.5 }));
    expectTrajectory(trajectory({ name: 'adam' }), refAdam({ decoupled: false, ...betas, weightDecay: 0 }));
    expectTrajectory(trajectory({ name: 'adam', weightDecay: 0.5 }), refAdam({ decoupled: false, ...betas, weightDecay: 0.5 }));
    // β1 < 0.5 takes lerp's other branch.
    expectTrajectory(trajectory({ name: 'adam', beta1: 0.3 }), refAdam({ decoupled: false, ...betas, beta1: 0.3, weightDecay: 0 }));
  });

  it('gives decay=false variables no decay of either kind', () => {
    for (const name of ['adam', 'adamw'] as const) {
      const decayed = trajectory({ name, weightDecay: 0.5 });
      const none = trajectory({ name, weightDecay: 0 });
      expect(Array.from(decayed[2]['layer.b'])).toEqual(Array.from(none[2]['layer.b']));
      expect(Array.from(decayed[2]['layer.w'])).not.toEqual(Array.from(none[2]['layer.w']));
    }
  });

  it('keeps a per-variable step count: a variable that missed a gradient keeps its own bias correction', () => {
    const vars = makeVariables();
    const opt = createOptimizer({ name: 'adam' }, vars);
    for (let s = 0; s < 3; s++) {
      const grads = gradsFor(vars);
      if (s === 1) grads.delete('layer.b');
      opt.step(grads, 0.1);
      disposeAll(grads);
    }
    const state = opt.getState();
    expect(state.step).toBe(3);
    expect(state.tensors['step/layer.w'].dataSync()[0]).toBe(3);
    expect(state.tensors['step/layer.b'].dataSync()[0]).toBe(2);
    for (const t of Object.values(state.tensors)) t.dispose();
    opt.dispose();
    for (const v of vars) v.variable.dispose();
  });
});

const ALL: OptimizerConfigInput[] = [
  { name: 'sgd', weightDecay: 0.1 },
  { name: 'sgd', momentum: 0.9, nesterov: true },
  { name: 'lars', weightDecay: 0.01, clipLr: true },
  { name: 'adamw' },
  { name: 'adam', weightDecay: 0.1 },
];

describe('every optimizer', () => {
  it.each(ALL.map((c) => [JSON.stringify(c), c] as const))('%s: state round trip gives bit-identical later updates', (_, config) => {
    const lrs = [0.1, 0.05, 0.2, 0.15, 0.07];
    const vars = makeVariables();
    const opt = createOptimizer(config, vars);
    run(opt, vars, lrs.slice(0, 2));
    const saved = opt.getState();
    const weightsAt2 = values(vars);
    const savedCopy = Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, t.dataSync().slice()]));
    const continued = run(opt, vars, lrs.slice(2));

    // The snapshot did not move with the optimizer.
    for (const [k, t] of Object.entries(saved.tensors)) expect(Array.from(t.dataSync())).toEqual(Array.from(savedCopy[k]));
    expect(saved.step).toBe(2);

    const resumedVars = makeVariables({ w: Array.from(weightsAt2['layer.w']), b: Array.from(weightsAt2['layer.b']) });
    const resumed = createOptimizer(config, resumedVars);
    resumed.setState(saved);
    for (const t of Object.values(saved.tensors)) t.dispose(); // setState must not depend on the caller's tensors
    const replayed = run(resumed, resumedVars, lrs.slice(2));
    for (let s = 0; s < replayed.length; s++) {
      for (const k of Object.keys(replayed[s])) expect(Array.from(replayed[s][k])).toEqual(Array.from(continued[s][k]));
    }
    expect(resumed.getState().step).toBe(5);
    for (const o of [opt, resumed]) o.dispose();
    for (const v of [...vars, ...resumedVars]) v.variable.dispose();
  });

  it.each(ALL.map((c) => [JSON.stringify(c), c] as const))('%s: no tensor leaks across steps, buffers freed on dispose', (_, config) => {
    const vars = makeVariables();
    const before = tf.memory().numTensors;
    const opt = createOptimizer(config, vars);
    const withOpt = tf.memory().numTensors;
    for (let s = 0; s < 4; s++) {
      const grads = gradsFor(vars);
      const n0 = tf.memory().numTensors;
      opt.step(grads, 0.1);
      expect(tf.memory().numTensors).toBe(n0);
      disposeAll(grads);
    }
    expect(tf.memory().numTensors).toBe(withOpt);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (const v of vars) v.variable.dispose();
  });

  it.each(ALL.map((c) => [JSON.stringify(c), c] as const))('%s: never touches a non-trainable variable and keeps no state for it', (_, config) => {
    const traj = trajectory(config);
    for (const step of traj) expect(Array.from(step['bn.running_mean'])).toEqual(RUNNING);
    const vars = makeVariables();
    const opt = createOptimizer(config, vars);
    const state = opt.getState();
    expect(Object.keys(state.tensors).some((k) => k.endsWith('/bn.running_mean'))).toBe(false);
    for (const t of Object.values(state.tensors)) t.dispose();
    opt.dispose();
    for (const v of vars) v.variable.dispose();
  });
});

describe('errors', () => {
  function codeOf(fn: () => unknown): string | undefined {
    try {
      fn();
    } catch (error) {
      if (isGenviewError(error)) return error.code;
      throw error;
    }
    return undefined;
  }

  it('rejects bad configs with INVALID_CONFIG', () => {
    const vars = makeVariables();
    expect(codeOf(() => createOptimizer({ name: 'rmsprop' } as unknown as OptimizerConfigInput, vars))).toBe('INVALID_CONFIG');
    // lr belongs to the schedule; a stray key is a typo the user should hear about.
    expect(codeOf(() => createOptimizer({ name: 'sgd', lr: 0.1 } as unknown as OptimizerConfigInput, vars))).toBe('INVALID_CONFIG');
    expect(codeOf(() => createOptimizer({ name: 'sgd', momentum: 0, nesterov: true }, vars))).toBe('INVALID_CONFIG');
    expect(codeOf(() => createOptimizer({ name: 'adamw', beta2: 1 }, vars))).toBe('INVALID_CONFIG');
    for (const v of vars) v.variable.dispose();
  });

  it('rejects unknown gradient names, wrong shapes, bad lr and mismatched state', () => {
    const vars = makeVariables();
    const opt = createOptimizer({ name: 'adamw' }, vars);
    const g = tf.ones([2]);
    expect(codeOf(() => opt.step(new Map([['layer.ww', g]]), 0.1))).toBe('BAD_INPUT');
    expect(() => opt.step(new Map([['layer.ww', g]]), 0.1)).toThrow(/did you mean "layer.w"/);
    expect(codeOf(() => opt.step(new Map([['layer.b', g]]), 0.1))).toBe('BAD_SHAPE');
    expect(codeOf(() => opt.step(new Map([['layer.w', g]]), Number.NaN))).toBe('BAD_INPUT');
    const sgd = createOptimizer({ name: 'sgd' }, vars);
    const sgdState = sgd.getState();
    expect(codeOf(() => opt.setState(sgdState))).toBe('CHECKPOINT');
    g.dispose();
    for (const t of Object.values(sgdState.tensors)) t.dispose();
    opt.dispose();
    sgd.dispose();
    expect(codeOf(() => opt.getState())).toBe('BAD_INPUT');
    for (const v of vars) v.variable.dispose();
  });
});

describe('clipGradNorm', () => {
  it('scales by maxNorm / (norm + 1e-6) over the global norm, as torch.nn.utils.clip_grad_norm_', () => {
    // Global norm of [3, 4] and [12] is √(9 + 16 + 144) = 13.
    const grads = new Map<string, Tensor>([
      ['a', tf.tensor1d([3, 4])],
      ['b', tf.tensor1d([12])],
    ]);
    const before = tf.memory().numTensors;
    const clipped = clipGradNorm(grads, 6.5);
    expect(clipped.totalNorm).toBeCloseTo(13, 5);
    const coef = 6.5 / (13 + 1e-6);
    expectClose(clipped.grads.get('a')!.dataSync(), [3 * coef, 4 * coef]);
    expectClose(clipped.grads.get('b')!.dataSync(), [12 * coef]);
    // Inputs untouched; outputs are new tensors and nothing else is left behind.
    expect(Array.from(grads.get('a')!.dataSync())).toEqual([3, 4]);
    expect(tf.memory().numTensors).toBe(before + 2);
    for (const t of clipped.grads.values()) t.dispose();

    const loose = clipGradNorm(grads, 100);
    expect(loose.totalNorm).toBeCloseTo(13, 5);
    expect(Array.from(loose.grads.get('a')!.dataSync())).toEqual([3, 4]);
    expect(Array.from(loose.grads.get('b')!.dataSync())).toEqual([12]);
    for (const t of loose.grads.values()) t.dispose();
    disposeAll(grads);

    expect(clipGradNorm(new Map(), 1)).toEqual({ grads: new Map(), totalNorm: 0 });
    expect(() => clipGradNorm(new Map(), 0)).toThrow(/maxNorm > 0/);
  });
});
