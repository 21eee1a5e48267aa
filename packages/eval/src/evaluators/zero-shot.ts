import { type EvalResult, GenviewError, type VisionLanguageEncoder, definePlugin, requireVisionLanguageEncoder, tf, z } from '@genview/core';
import { extractFeatures, subsetIndices } from '../features';
import { embedTextsBatched, jointImageExtractor } from '../joint-space';
import { l2NormalizeRows } from '../math';

const WHERE = 'zero-shot';

/** A small CLIP-style prompt ensemble; `{}` is replaced by the class name. */
export const DEFAULT_ZERO_SHOT_TEMPLATES: readonly string[] = ['a photo of a {}.', 'a {}.', 'a picture of a {}.'];

/**
 * One joint-space embedding per class, CLIP's prompt ensemble: every template filled with the class
 * name is embedded and L2-normalised, the class's embeddings are averaged, and the mean renormalised.
 * Returns row-major [classes, jointDim].
 */
export async function classEmbeddings(
  encoder: VisionLanguageEncoder,
  classNames: readonly string[],
  templates: readonly string[],
  textBatchSize = 256,
): Promise<Float32Array> {
  // split/join rather than replace: a "$&" in a class name must stay literal.
  const prompts = classNames.flatMap((name) => templates.map((template) => template.split('{}').join(name)));
  const flat = await embedTextsBatched(encoder, prompts, textBatchSize, WHERE);
  const dim = encoder.jointDim;
  const classes = tf.tidy(() => {
    const perPrompt = l2NormalizeRows(tf.tensor2d(flat, [prompts.length, dim]));
    const mean = tf.mean(tf.reshape(perPrompt, [classNames.length, templates.length, dim]), 1) as tf.Tensor2D;
    return l2NormalizeRows(mean);
  });
  const out = classes.dataSync() as Float32Array;
  classes.dispose();
  return out;
}

export interface ZeroShotInput {
  /** Row-major [images, dim] joint-space image embeddings. */
  imageFeatures: Float32Array;
  labels: Int32Array;
  /** Row-major [classes, dim] class embeddings (classEmbeddings). */
  classFeatures: Float32Array;
  numClasses: number;
  /** Image rows per similarity block. */
  chunkSize?: number;
}

export interface ZeroShotAccuracy {
  top1: number;
  /** Only with 5 classes or more. */
  top5?: number;
}

/**
 * Each image is classified by cosine to the class embeddings. The true class's rank counts the classes
 * scored higher, and those scored equal with a lower id (as argmax and the kNN evaluator break ties).
 */
export function zeroShotClassify(input: ZeroShotInput): ZeroShotAccuracy {
  const { imageFeatures, labels, classFeatures, numClasses } = input;
  const chunkSize = input.chunkSize ?? 1024;
  const count = labels.length;
  const dim = classFeatures.length / numClasses;
  if (count === 0) throw new GenviewError('EMPTY_DATASET', 'zero-shot needs at least one test image.', { where: WHERE });
  if (!Number.isInteger(dim) || imageFeatures.length !== count * dim) {
    throw new GenviewError(
      'BAD_SHAPE',
      `features must be [count, dim] row-major: ${classFeatures.length} class values for ${numClasses} classes, ${imageFeatures.length} image values for ${count} labels.`,
      { where: WHERE },
    );
  }
  let hits1 = 0;
  let hits5 = 0;
  const classesT = tf.tidy(() => tf.transpose(l2NormalizeRows(tf.tensor2d(classFeatures, [numClasses, dim]))));
  try {
    for (let start = 0; start < count; start += chunkSize) {
      const rows = Math.min(chunkSize, count - start);
      const block = tf.tidy(() => tf.matMul(l2NormalizeRows(tf.tensor2d(imageFeatures.subarray(start * dim, (start + rows) * dim), [rows, dim])), classesT));
      const scores = block.dataSync();
      block.dispose();
      for (let r = 0; r < rows; r++) {
        const truth = labels[start + r];
        const own = scores[r * numClasses + truth];
        let rank = 0;
        for (let c = 0; c < numClasses; c++) {
          const s = scores[r * numClasses + c];
          if (s > own || (s === own && c < truth)) rank++;
        }
        if (rank === 0) hits1++;
        if (rank < 5) hits5++;
      }
    }
  } finally {
    classesT.dispose();
  }
  return numClasses >= 5 ? { top1: hits1 / count, top5: hits5 / count } : { top1: hits1 / count };
}

export const zeroShotPlugin = definePlugin({
  kind: 'evaluator',
  name: 'zero-shot',
  package: '@genview/eval',
  description:
    "Zero-shot classification in a vision-language encoder's joint space: class embeddings from a prompt ensemble (CLIP's recipe), " +
    'each test image assigned the class of highest cosine; top-1 and (with ≥ 5 classes) top-5 accuracy.',
  configSchema: z
    .object({
      /** Prompt templates; `{}` is replaced by the class name. */
      templates: z
        .array(z.string().refine((t) => t.includes('{}'), { message: 'a template must contain {} where the class name goes' }))
        .nonempty()
        .default([...DEFAULT_ZERO_SHOT_TEMPLATES] as [string, ...string[]]),
      /** Class names in label order; default: the test dataset's info.classNames. */
      classNames: z.array(z.string().min(1)).nonempty().optional(),
      /** Images per embedImages call. */
      batchSize: z.number().int().positive().default(256),
      /** Prompts per embedTexts call. */
      textBatchSize: z.number().int().positive().default(256),
      /** Image rows per similarity block. */
      chunkSize: z.number().int().positive().default(1024),
      /** Use a seeded random subset of this many test images (the same subset every evaluation). */
      limitTest: z.number().int().positive().optional(),
    })
    .strict(),
  create: (config, context) => ({
    name: 'zero-shot',
    async evaluate(encoder, data): Promise<EvalResult> {
      const joint = requireVisionLanguageEncoder(encoder, WHERE);
      const test = data.test;
      const classNames = config.classNames ?? test.info.classNames;
      if (!classNames || classNames.length === 0) {
        throw new GenviewError('BAD_INPUT', `the test dataset "${test.info.name}" has no class names (test.info.classNames); zero-shot prompts need them.`, {
          where: WHERE,
          fix: 'set classNames (in label order) in the zero-shot evaluator config, or use a dataset whose info lists classNames.',
        });
      }
      const indices = subsetIndices(test.info.size, config.limitTest, context.rng.fork('limit-test'));
      const set = await extractFeatures(jointImageExtractor(joint), test, {
        batchSize: config.batchSize,
        indices,
        events: context.events,
        task: `${WHERE}: embed test`,
      });
      if (!set.labels) {
        throw new GenviewError('BAD_INPUT', `the test dataset "${test.info.name}" has no labels; zero-shot accuracy needs them.`, {
          where: WHERE,
          fix: 'use a labelled test split (labels are only needed by evaluators).',
        });
      }
      const labels = set.labels;
      const outside = labels.find((l) => l < 0 || l >= classNames.length);
      if (outside !== undefined) {
        throw new GenviewError('BAD_INPUT', `label ${outside} has no class name: ${classNames.length} names are given.`, {
          where: WHERE,
          fix: 'give one class name per label id, in label order (config classNames or test.info.classNames).',
        });
      }
      const classFeatures = await classEmbeddings(joint, classNames, config.templates, config.textBatchSize);
      const accuracy = zeroShotClassify({ imageFeatures: set.features, labels, classFeatures, numClasses: classNames.length, chunkSize: config.chunkSize });
      const metrics: Record<string, number> = { zeroshot_top1: accuracy.top1 };
      if (accuracy.top5 !== undefined) metrics.zeroshot_top5 = accuracy.top5;
      const subset = indices !== undefined ? ' (seeded subset)' : '';
      return {
        evaluator: 'zero-shot',
        metrics,
        description:
          `zero-shot classification by cosine in the joint image-text space (E=${joint.jointDim}); each class's text embedding is the ` +
          `renormalised mean of its ${config.templates.length} prompts' L2-normalised embeddings (CLIP prompt ensemble: ` +
          `${config.templates.map((t) => JSON.stringify(t)).join(', ')}); ${classNames.length} classes` +
          `${config.classNames ? ' named in the config' : ''}; test ${test.info.name} n=${labels.length}${subset}; ` +
          `top-1${accuracy.top5 !== undefined ? ' and top-5' : ''} accuracy, ties going to the lower class id`,
      };
    },
  }),
});
