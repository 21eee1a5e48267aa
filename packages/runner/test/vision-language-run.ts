import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@genview/runner';
import { expect } from 'vitest';
import { sink } from './output-sink';

/**
 * Test-sized captioned shapes: one object per image, labelled by its colour (at 16 px colour is learned
 * in a few dozen steps, shape is not), with half the size and texture words left out so that captions
 * vary in detail as the prompts below do.
 */
export const SHAPES = { name: 'captioned-shapes', size: 16, twoObjectProbability: 0, omitProbability: 0.5, labelBy: 'color' } as const;
/** Seven colours. */
export const CHANCE = 1 / 7;
/** Zero-shot prompts: the class (colour) name with every shape, averaged (CLIP's prompt ensemble over what the class leaves open). */
export const COLOR_PROMPTS = ['circle', 'square', 'triangle', 'cross', 'star', 'diamond'].map((shape) => `a {} ${shape}`);

export interface ShapesRunOptions {
  framework: Record<string, unknown> & { name: string };
  steps: number;
  views?: unknown[][];
  evaluators?: unknown[];
  baselines?: boolean;
  checkpointEvery?: number;
  trainCount?: number;
  batchSize?: number;
}

/** A run config for a short image-text run on captioned shapes, written as JSON (which is YAML) for `genview --config`. */
export function shapesConfig(options: ShapesRunOptions): { file: string; outDir: string; config: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), `genview-${options.framework.name}-`));
  const outDir = join(dir, 'run');
  const crop = { name: 'random-resized-crop', size: SHAPES.size, scale: [0.7, 1], ratio: [0.9, 1.1] };
  const config = {
    seed: 0,
    outDir,
    data: {
      train: { ...SHAPES, split: 'train', count: options.trainCount ?? 2048 },
      test: { ...SHAPES, split: 'test', count: 600 },
    },
    views: { pipelines: options.views ?? [[crop], [crop]] },
    tokenizer: { merges: 100, contextLength: 8 },
    framework: {
      backbone: { name: 'small-cnn', widths: [16, 32, 64] },
      text: { name: 'text-transformer', width: 64, layers: 1, heads: 2 },
      jointDim: 64,
      ...options.framework,
    },
    optimizer: { name: 'adamw', beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.05 },
    schedule: { name: 'cosine', warmup: 0.1 },
    trainer: {
      steps: options.steps,
      batchSize: options.batchSize ?? 96,
      lr: 3e-3,
      scaleLr: false,
      gradClipNorm: 1,
      checkpointEvery: options.checkpointEvery ?? options.steps,
      logEvery: 10,
    },
    eval: {
      evaluators: options.evaluators ?? [{ name: 'zero-shot', templates: COLOR_PROMPTS }],
      baselines: options.baselines ?? true,
    },
  };
  const file = join(dir, 'run.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, outDir, config };
}

/**
 * Runs `genview <args>` in process and returns everything it printed: its logs (stderr), then its
 * results (stdout). Fails the test with its stderr when it does not exit 0.
 */
export async function cli(args: string[]): Promise<string> {
  const out = sink();
  const err = sink();
  const code = await main([...args, '--plain'], out, err);
  expect(code, err.text()).toBe(0);
  return `${err.text()}${out.text()}`;
}

interface StoredResults {
  evaluations: { encoder: string; results: { evaluator: string; metrics: Record<string, number> }[] }[];
}

/** One metric of one encoder row (trained, "random encoder", "raw pixels") in a run's results.json. */
export function metricOf(outDir: string, row: number, evaluator: string, metric: string): number | undefined {
  const stored = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as StoredResults;
  return stored.evaluations[row]?.results.find((r) => r.evaluator === evaluator)?.metrics[metric];
}
