import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI, for tests that run `genview` as a child process (kill it, signal it). */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** The tiny random-weight unCLIP of @genview/views' tests (our model's layout, made by tools/diffusion). */
export const TINY_PIPELINE = fileURLToPath(new URL('../../views/test/fixtures/tiny-random-unclip', import.meta.url));

export interface TinyRunOptions {
  steps?: number;
  checkpointEvery?: number;
  logEvery?: number;
  seed?: number;
  /** Extra top-level YAML (e.g. a generate section). */
  extra?: string;
}

/**
 * A `genview train` config that trains in about a second: 64 coloured digits of 8x8, a two-layer CNN,
 * no evaluators. Written to <dir>/run.yaml with outDir <outDir>; returns the config path.
 */
export function writeTinyConfig(dir: string, outDir: string, options: TinyRunOptions = {}): string {
  const { steps = 40, checkpointEvery = 5, logEvery = 1, seed = 1 } = options;
  const path = join(dir, 'run.yaml');
  writeFileSync(
    path,
    [
      `seed: ${seed}`,
      `outDir: ${JSON.stringify(outDir)}`,
      'data:',
      '  train: { name: colored-digits, split: train, count: 64, size: 8 }',
      '  test: { name: colored-digits, split: test, count: 32, size: 8 }',
      'views:',
      '  pipelines:',
      '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
      '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
      'framework:',
      '  name: simclr',
      '  backbone: { name: small-cnn, widths: [4, 8] }',
      '  projector: { name: mlp-projector, hiddenDim: 16, outDim: 8 }',
      'optimizer: { name: adam }',
      `trainer: { steps: ${steps}, batchSize: 16, lr: 1.0e-3, scaleLr: false, checkpointEvery: ${checkpointEvery}, logEvery: ${logEvery} }`,
      'eval: { evaluators: [], baselines: false }',
      options.extra ?? '',
    ].join('\n'),
  );
  return path;
}

/** A generate section for the tiny pipeline: 2 views of each of the first `limit` images (default all 64), shards of 8. */
export function tinyGenerateSection(store: string, limit = 64): string {
  return [
    'generate:',
    `  generator: { name: onnx-diffusion, path: ${JSON.stringify(TINY_PIPELINE)}, steps: 2, threads: 1 }`,
    '  conditioning: { name: genview-adaptive-noise, strategy: random, levels: [0, 300] }',
    `  store: ${JSON.stringify(store)}`,
    '  viewsPerImage: 2',
    '  shardSize: 8',
    '  batchSize: 8',
    `  limit: ${limit}`,
  ].join('\n');
}
