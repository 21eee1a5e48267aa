import {
  type FeatureExtractor,
  type FrozenVisionLanguageModel,
  GenviewError,
  type PatchTokenEncoder,
  type PluginContext,
  ShapeCheck,
  type Tensor1D,
  type Tensor3D,
  type Tensor4D,
  tf,
  z,
} from '@genview/core';
import { type ForegroundDirection, checkDirectionDim, validateForegroundDirection } from '../foreground/direction';
import { loadForegroundDirection } from '../foreground/direction-file';
import { requirePatchTokens } from '../foreground/fit-dataset';
import { type TokenEncoder, patchTokensOf, requireTokenEncoder } from '../foreground/token-encoder';

/** Pieces the two scorer plugins share: config for the direction and encoder, token extraction, weight normalisation. */

/** A direction file path (safetensors from saveForegroundDirection), or the vector inline. */
export const directionConfigSchema = z.union([
  z.string().min(1),
  z
    .object({
      vector: z.array(z.number()).min(1),
      /** Only the hard mask uses it; scorers use soft masks, so it may be left out for them. */
      threshold: z.number().default(0),
    })
    .strict(),
]);

export type DirectionConfig = z.output<typeof directionConfigSchema>;

/**
 * The encoder is named, not built here: the host (runner) resolves the name through
 * context.services.featureExtractor, so this package never imports a backbone package.
 */
export const encoderConfigSchema = z.string().min(1);

export async function resolveDirection(config: DirectionConfig, where: string): Promise<ForegroundDirection> {
  if (typeof config === 'string') return loadForegroundDirection(config);
  const direction: ForegroundDirection = { vector: Float32Array.from(config.vector), threshold: config.threshold };
  validateForegroundDirection(direction, where);
  return direction;
}

export async function obtainExtractor(context: PluginContext, name: string): Promise<FeatureExtractor> {
  const where = `${context.path}.encoder`;
  const provide = context.services?.featureExtractor;
  if (!provide) {
    throw new GenviewError('INVALID_CONFIG', `the encoder "${name}" cannot be resolved: this host offers no feature extractors.`, {
      where,
      fix: 'create the plugin through a host that sets context.services.featureExtractor (the genview runner does), or call the create...Scorer function with an extractor directly.',
    });
  }
  const extractor = await provide(name);
  requirePatchTokens(extractor, where);
  return extractor;
}

/**
 * A frozen encoder of patch tokens by name: the host's patchTokenEncoder service where it has one (the
 * runner's also knows ONNX image towers, onnx:<folder>), else its featureExtractor.
 */
export async function obtainTokenEncoder(context: PluginContext, name: string): Promise<PatchTokenEncoder> {
  const provide = context.services?.patchTokenEncoder;
  if (!provide) return obtainExtractor(context, name) as Promise<PatchTokenEncoder>;
  return requireTokenEncoder(await provide(name), `${context.path}.encoder`);
}

export async function obtainVisionLanguageModel(context: PluginContext, name: string): Promise<FrozenVisionLanguageModel> {
  const provide = context.services?.visionLanguageModel;
  if (!provide) {
    throw new GenviewError('INVALID_CONFIG', `the image-text model "${name}" cannot be resolved: this host offers no vision-language models.`, {
      where: `${context.path}.alignment`,
      fix: 'create the plugin through a host that sets context.services.visionLanguageModel (the genview runner does), or call createAlignmentDiversityScorer with an alignment model directly.',
    });
  }
  return provide(name);
}

/**
 * Patch tokens of several equally shaped view batches in one encoder call: the views are concatenated
 * along the batch axis, so a pair costs one pass, not two. Returns [V·N, T, D] (views in order).
 */
export function viewTokens(extractor: FeatureExtractor, direction: ForegroundDirection, views: readonly Tensor4D[], where: string): Tensor3D {
  const patchTokens = requirePatchTokens(extractor, where);
  if (views.length === 0) throw new GenviewError('BAD_INPUT', 'no views were given.', { where, fix: 'pass the views of each pair, [N, H, W, C] each.' });
  const check = new ShapeCheck(where);
  for (const [i, v] of views.entries()) check.check(v, `views[${i}]`, ['N', 'H', 'W', 'C']);
  const rows = views.length * views[0].shape[0];
  const tokens = tf.tidy(() => patchTokens(views.length === 1 ? views[0] : tf.concat(views as Tensor4D[], 0)));
  return checkedTokens(tokens, rows, direction, where);
}

/** viewTokens for any token encoder, including one that runs outside TensorFlow.js (awaited). */
export async function viewTokensAsync(encoder: TokenEncoder, direction: ForegroundDirection, views: readonly Tensor4D[], where: string): Promise<Tensor3D> {
  requireTokenEncoder(encoder, where);
  if (views.length === 0) throw new GenviewError('BAD_INPUT', 'no views were given.', { where, fix: 'pass the views of each pair, [N, H, W, C] each.' });
  const check = new ShapeCheck(where);
  for (const [i, v] of views.entries()) check.check(v, `views[${i}]`, ['N', 'H', 'W', 'C']);
  const rows = views.length * views[0].shape[0];
  const batch = views.length === 1 ? views[0] : (tf.concat(views as Tensor4D[], 0) as Tensor4D);
  let tokens: Tensor3D;
  try {
    tokens = await patchTokensOf(encoder, batch);
  } finally {
    if (batch !== views[0]) batch.dispose();
  }
  return checkedTokens(tokens, rows, direction, where);
}

function checkedTokens(tokens: Tensor3D, rows: number, direction: ForegroundDirection, where: string): Tensor3D {
  if (tokens.rank !== 3 || tokens.shape[0] !== rows) {
    const shape = tokens.shape.join(', ');
    tokens.dispose();
    throw new GenviewError('BAD_SHAPE', `the encoder's patchTokens returned shape [${shape}], expected [${rows}, T, D].`, {
      where,
      fix: 'patchTokens must map [N, H, W, C] to [N, T, D].',
    });
  }
  try {
    checkDirectionDim(direction, tokens.shape[2], where);
  } catch (error) {
    tokens.dispose();
    throw error;
  }
  return tokens;
}

/**
 * Scores exp(logit) turned into weights of mean 1: w = N·exp(l)/Σexp(l). The max logit is subtracted
 * first (it cancels in the ratio): exp cannot overflow, and equal logits give exp(0) = 1 exactly, a sum
 * of exactly N and weights of exactly 1, so a weighted loss then equals the unweighted one bit for bit.
 */
export function meanOneWeights(logits: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const n = logits.shape[0];
    const e = tf.exp(tf.sub(logits, tf.max(logits)));
    return tf.div(tf.mul(e, n), tf.sum(e)) as Tensor1D;
  });
}

export function requireGamma(gamma: number, label: string, where: string): void {
  if (!Number.isFinite(gamma) || gamma < 0) {
    throw new GenviewError('BAD_INPUT', `${label} must be a finite number ≥ 0, got ${gamma}.`, {
      where,
      fix: `${label} = 0 gives equal weights; GenView uses 1, GenView++ 2.`,
    });
  }
}
