import {
  GenviewError,
  type QualityInput,
  type QualityScorer,
  type Tensor1D,
  type Tensor2D,
  definePlugin,
  stopGradient,
  tf,
  z,
} from '@genview/core';
import { type ForegroundDirection, validateForegroundDirection } from '../foreground/direction';
import { directionColumn, poolForegroundBackground, rowCosine } from '../foreground/masks';
import {
  directionConfigSchema,
  encoderConfigSchema,
  meanOneWeights,
  obtainTokenEncoder,
  requireGamma,
  resolveDirection,
  viewTokensAsync,
} from './shared';
import { type TokenEncoder, requireTokenEncoder } from '../foreground/token-encoder';

export interface GenviewFgBgOptions {
  /**
   * Frozen encoder with patch tokens (the scorer never trains it): a FeatureExtractor, or an encoder
   * outside TensorFlow.js such as an ONNX image tower (OnnxPatchEncoder from @genview/views).
   */
  extractor: TokenEncoder;
  /** Fitted with the same encoder; only its vector is used (soft masks need no threshold). */
  direction: ForegroundDirection;
  /** Temperature of the score; GenView uses 1. */
  gamma?: number;
  /**
   * Coefficient of the background term: score = exp(γ·(sim_fg − diversity·sim_bg)). GenView uses 1 (a
   * pair whose backgrounds differ counts more); 0 scores foreground agreement alone, which is what
   * separates semantically drifted views when a drifted view's background changes too (README, the
   * controlled test).
   */
  diversity?: number;
}

// A type alias, not an interface: tf.tidy only returns objects whose type has an index signature.
export type PairSimilarities = {
  /** cos(f_fg1, f_fg2) per pair, [N]. */
  foreground: Tensor1D;
  /** cos(f_bg1, f_bg2) per pair, [N]. */
  background: Tensor1D;
};

export interface GenviewFgBgScorer extends QualityScorer {
  readonly gamma: number;
  readonly diversity: number;
  /** Foreground and background similarity of each pair, detached. */
  similarities(input: QualityInput): Promise<PairSimilarities>;
  /** The unnormalised scores exp(γ·(sim_fg − sim_bg)), [N], detached (for logging and plots). */
  pairScores(input: QualityInput): Promise<Tensor1D>;
  /** Asynchronous: the frozen encoder may run outside TensorFlow.js (ONNX). */
  pairWeights(input: QualityInput): Promise<Tensor1D>;
  /** Frees the scorer's one persistent tensor (the direction). */
  dispose(): void;
}

const WHERE = 'quality genview-fg-bg';

/**
 * GenView's quality-driven weights. For each positive pair both views go through the frozen encoder in
 * one batched pass; each view's tokens are projected on the foreground direction, turned into soft
 * fg/bg masks and pooled (f_fg, f_bg). A pair whose foregrounds agree while its backgrounds differ is
 * a good positive: score = exp(γ·(cos(f_fg1, f_fg2) − cos(f_bg1, f_bg2))), weight = N·score/Σscore.
 * The weights are detached: no gradient reaches the views, the encoder or the masks.
 */
export function createGenviewFgBgScorer(options: GenviewFgBgOptions): GenviewFgBgScorer {
  const gamma = options.gamma ?? 1;
  requireGamma(gamma, 'gamma', WHERE);
  const diversity = options.diversity ?? 1;
  if (!Number.isFinite(diversity) || diversity < 0) {
    throw new GenviewError('BAD_INPUT', `diversity must be a finite number ≥ 0, got ${diversity}.`, {
      where: WHERE,
      fix: 'GenView uses 1; 0 scores foreground agreement alone.',
    });
  }
  validateForegroundDirection(options.direction, `${WHERE}.direction`);
  requireTokenEncoder(options.extractor, `${WHERE}.extractor`);
  const { extractor, direction } = options;
  let column: Tensor2D | undefined = directionColumn(direction);
  const live = (): Tensor2D => {
    if (!column) throw new GenviewError('BAD_INPUT', 'this scorer was disposed.', { where: WHERE, fix: 'create a new scorer.' });
    return column;
  };

  const similarities = async (input: QualityInput): Promise<PairSimilarities> => {
    const views = input?.views;
    if (!Array.isArray(views) || views.length !== 2) {
      throw new GenviewError('BAD_INPUT', `views must hold the two views of each pair, got ${Array.isArray(views) ? views.length : typeof views}.`, {
        where: `${WHERE}.views`,
        fix: 'pass { views: [view1, view2] }, [N, H, W, C] each.',
      });
    }
    live();
    const tokens = await viewTokensAsync(extractor, direction, views, `${WHERE}.views`);
    // Looked up again after the await: the scorer may have been disposed while the encoder ran.
    const v = live();
    try {
      return tf.tidy(() => {
        // Detached at the source as well as at the end: nothing here should ever carry a gradient.
        const pooled = poolForegroundBackground(stopGradient(tokens), v, WHERE);
        const n = views[0].shape[0];
        const half = (x: Tensor2D, i: number): Tensor2D => tf.slice(x, [i * n, 0], [n, -1]);
        return {
          foreground: stopGradient(rowCosine(half(pooled.foreground, 0), half(pooled.foreground, 1))),
          background: stopGradient(rowCosine(half(pooled.background, 0), half(pooled.background, 1))),
        };
      });
    } finally {
      tokens.dispose();
    }
  };

  const logits = async (input: QualityInput): Promise<Tensor1D> => {
    const sims = await similarities(input);
    return tf.tidy(() => {
      const out = tf.mul(tf.sub(sims.foreground, tf.mul(sims.background, diversity)), gamma) as Tensor1D;
      tf.dispose([sims.foreground, sims.background]);
      return out;
    });
  };

  return {
    name: 'genview-fg-bg',
    gamma,
    diversity,
    similarities,
    pairScores: async (input) => {
      const l = await logits(input);
      return tf.tidy(() => {
        const out = stopGradient(tf.exp(l)) as Tensor1D;
        l.dispose();
        return out;
      });
    },
    pairWeights: async (input) => {
      const l = await logits(input);
      return tf.tidy(() => {
        const out = stopGradient(meanOneWeights(l));
        l.dispose();
        return out;
      });
    },
    dispose: () => {
      column?.dispose();
      column = undefined;
    },
  };
}

export const genviewFgBgPlugin = definePlugin({
  kind: 'quality',
  name: 'genview-fg-bg',
  package: '@genview/quality',
  description:
    'GenView pair weights: soft fg/bg masks from a frozen encoder\'s patch tokens on a fitted foreground direction; score exp(γ·(cos fg − cos bg)), weights N·score/Σscore, detached.',
  configSchema: z
    .object({
      gamma: z.number().min(0).default(1),
      /** Coefficient of the background similarity in the score; GenView uses 1, 0 keeps foreground agreement only. */
      diversity: z.number().min(0).default(1),
      /** A foreground direction file (safetensors) or { vector, threshold? } inline. */
      direction: directionConfigSchema,
      /** Name of a frozen encoder with patch tokens, resolved by the host (services.patchTokenEncoder, else featureExtractor): checkpoint:<run>, onnx:tiny-clip, ... */
      encoder: encoderConfigSchema,
    })
    .strict(),
  create: async (config, context) => {
    const direction = await resolveDirection(config.direction, `${context.path}.direction`);
    const extractor = await obtainTokenEncoder(context, config.encoder);
    return createGenviewFgBgScorer({ extractor, direction, gamma: config.gamma, diversity: config.diversity });
  },
});
