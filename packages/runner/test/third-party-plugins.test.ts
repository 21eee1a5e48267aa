import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built CLI loads a third-party plugin module the way a user's project would: an ES module beside
// the config that imports @genview/core and nothing else (the project has core installed: a link here).
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const CORE = fileURLToPath(new URL('../../core', import.meta.url));

const PLUGIN_MODULE = `
import {
  backboneFeatures,
  buildBackbone,
  buildHead,
  definePlugin,
  forwardViews,
  inputShapeSchema,
  l2Normalize,
  named,
  pluginRefSchema,
  tf,
  z,
} from '@genview/core';

const PKG = 'my-genview-plugins';

/** A tiny SimCLR-like framework: shared encoder and projector, any loss found by name. */
export const tinyContrast = definePlugin({
  kind: 'framework',
  name: 'tiny-contrast',
  package: PKG,
  description: 'third-party test framework: one encoder and projector for both views.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default({ name: 'small-cnn', widths: [4, 8] }),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 8, outDim: 4 }),
      loss: pluginRefSchema.default('my-genview-plugins:mean-cosine'),
    })
    .strict(),
  async create(config, context) {
    const backbone = await buildBackbone(context, config.backbone, config.inputShape);
    const projector = await buildHead(context, config.projector, backbone.featureDim, context.path + '.projector');
    const loss = await context.registry.create('loss', config.loss, { ...context, path: context.path + '.loss' });
    const modules = () => [named(backbone, 'backbone'), named(projector, 'projector')];
    return {
      name: 'tiny-contrast',
      trainableModules: modules,
      stateModules: modules,
      loss: (batch) => loss.compute({ views: forwardViews(batch.views, [backbone, projector], true), weights: batch.weights }),
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        backbone.dispose();
        projector.dispose();
      },
    };
  },
});

/** Negative mean cosine between the first two views. */
export const meanCosine = definePlugin({
  kind: 'loss',
  name: 'mean-cosine',
  package: PKG,
  description: 'third-party test loss: negative mean cosine of two views.',
  configSchema: z.object({ scale: z.number().positive().default(1) }).strict(),
  create: (config) => ({
    name: 'mean-cosine',
    requires: [],
    crossProcess: { kind: 'local' },
    compute: ({ views }) =>
      tf.tidy(() => tf.mul(tf.mean(tf.sum(tf.mul(l2Normalize(views[0], 1), l2Normalize(views[1], 1)), 1)), -config.scale)),
  }),
});

/** Adds one random brightness shift per image. */
export const brightnessShift = definePlugin({
  kind: 'augment',
  name: 'brightness-shift',
  package: PKG,
  description: 'third-party test augmentation: a random brightness shift per image.',
  configSchema: z.object({ max: z.number().min(0).max(1).default(0.2) }).strict(),
  create: (config) => ({
    name: 'brightness-shift',
    sampleParams: (rng, batchSize) => Array.from({ length: batchSize }, () => rng.uniform(-config.max, config.max)),
    apply: (images, shifts) => tf.tidy(() => tf.clipByValue(tf.add(images, tf.reshape(tf.tensor1d(shifts), [-1, 1, 1, 1])), 0, 1)),
  }),
});

export const plugins = [tinyContrast, meanCosine, brightnessShift];
`;

/** A run of a few seconds: 64 coloured digits of 8x8, 2 steps, kNN only, the third-party framework and augmentation. */
function config(outDir: string, pluginsLine: string): string {
  const digits = (split: string, count: number) => `{ name: colored-digits, split: ${split}, count: ${count}, size: 8, colors: 3, seed: 3 }`;
  const view = '[{ name: random-resized-crop, size: 8, scale: [0.5, 1] }, { name: brightness-shift, max: 0.1 }]';
  return `${pluginsLine}
seed: 1
outDir: ${outDir}
data: { train: ${digits('train', 64)}, test: ${digits('test', 32)} }
views: { pipelines: [${view}, ${view}] }
framework: { name: tiny-contrast, loss: { name: mean-cosine, scale: 2 } }
optimizer: { name: adam }
trainer: { steps: 2, batchSize: 16, lr: 0.002, scaleLr: false, logEvery: 1 }
eval: { evaluators: [{ name: knn, k: [5] }], baselines: false }
`;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface ResultsFile {
  config: { plugins?: string[]; framework: { name: string } };
  evaluations: { encoder: string; results: { evaluator: string; metrics: Record<string, number> }[] }[];
}

describe.skipIf(!existsSync(CLI))('third-party plugins in the built CLI (plugins: and --plugin)', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-third-party-'));
    await mkdir(join(root, 'node_modules', '@genview'), { recursive: true });
    await symlink(CORE, join(root, 'node_modules', '@genview', 'core'), 'dir');
    await mkdir(join(root, 'project', 'configs'), { recursive: true });
    await writeFile(join(root, 'project', 'my-plugins.mjs'), PLUGIN_MODULE);
    await writeFile(join(root, 'project', 'not-plugins.mjs'), 'export const answer = 42;\nexport default { hello: "world" };\n');
    // The config names the module relative to its own directory, wherever the CLI is started.
    await writeFile(join(root, 'project', 'run.yaml'), config(join(root, 'runs', 'from-config'), 'plugins: [./my-plugins.mjs]'));
    await writeFile(join(root, 'project', 'configs', 'flag.yaml'), config(join(root, 'runs', 'from-flag'), ''));
    await writeFile(join(root, 'project', 'configs', 'missing.yaml'), config(join(root, 'runs', 'missing'), 'plugins: [./no-such-file.mjs]'));
  }, 60_000);
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('genview plugins lists the third-party framework, loss and augmentation with their options', async () => {
    const listed = await cli(['plugins', '--config', join(root, 'project', 'run.yaml')], root);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    for (const name of ['tiny-contrast', 'mean-cosine', 'brightness-shift']) expect(listed.stdout).toContain(`  ${name}  (my-genview-plugins)`);
    expect(listed.stdout).toContain('  simclr  (@genview/runner)');
    expect(listed.stdout).toMatch(/max: number = 0\.2/);

    const frameworks = await cli(['plugins', 'framework', '--plugin', './project/my-plugins.mjs'], root);
    expect(frameworks.code).toBe(0);
    expect(frameworks.stdout).toContain('  tiny-contrast  (my-genview-plugins)');
    expect(frameworks.stdout).not.toContain('  mean-cosine  (');
  }, 60_000);

  it('genview train runs a config whose plugins: list names the module, and saves the resolved path', async () => {
    const run = await cli(['train', '--config', join('project', 'run.yaml'), '--plain'], root);
    expect(run.stderr).not.toMatch(/genview:/);
    expect(run.code).toBe(0);
    const resultsPath = join(root, 'runs', 'from-config', 'results.json');
    expect(existsSync(resultsPath)).toBe(true);
    const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as ResultsFile;
    expect(results.evaluations[0]?.encoder).toBe('tiny-contrast');
    expect(results.evaluations[0]?.results[0]?.evaluator).toBe('knn');
    expect(results.config.plugins).toEqual([join(root, 'project', 'my-plugins.mjs')]);
    // The saved config holds the absolute path, so genview eval rebuilds the framework from anywhere.
    const evaluated = await cli(['eval', '--config', join(root, 'runs', 'from-config', 'config.json'), '--plain'], tmpdir());
    expect(evaluated.stderr).not.toMatch(/genview:/);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stderr).toMatch(/loaded tiny-contrast from .*from-config \(step 2\)/);
    expect(evaluated.stdout).toMatch(/^\nevaluated .*from-config \(checkpoint step 2\)\n\nencoder +knn_top1@\d+\n-+ +-+\ntiny-contrast +\d+\.\d\d%\n/);
  }, 120_000);

  it('genview train takes the module from --plugin, relative to the current directory', async () => {
    const run = await cli(['train', '--config', join(root, 'project', 'configs', 'flag.yaml'), '--plugin', './my-plugins.mjs', '--plain'], join(root, 'project'));
    expect(run.stderr).not.toMatch(/genview:/);
    expect(run.code).toBe(0);
    const results = JSON.parse(readFileSync(join(root, 'runs', 'from-flag', 'results.json'), 'utf8')) as ResultsFile;
    expect(results.evaluations[0]?.encoder).toBe('tiny-contrast');
  }, 120_000);

  it('names the spec, the field and the fix for a module that is missing or exports no plugins', async () => {
    const missing = await cli(['train', '--config', join(root, 'project', 'configs', 'missing.yaml')], root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/\[NOT_FOUND\] plugins\[0\]: cannot import plugin module ".*no-such-file\.mjs"/);
    expect(missing.stderr).toMatch(/Fix: check the path \(in a config it is relative to the config file's directory/);
    expect(existsSync(join(root, 'runs', 'missing'))).toBe(false);

    const empty = await cli(['train', '--config', join(root, 'project', 'configs', 'flag.yaml'), '--plugin', './not-plugins.mjs'], join(root, 'project'));
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/\[INVALID_CONFIG\] --plugin: plugin module "\.\/not-plugins\.mjs" exports no plugins \(its exports: answer, default\)/);
    expect(empty.stderr).toMatch(/Fix: write `export const plugins = \[myPlugin, \.\.\.\]`/);

    // A plugin file in a folder where @genview/core is not installed: the fix says to install it.
    const outside = await mkdtemp(join(tmpdir(), 'genview-no-core-'));
    try {
      await writeFile(join(outside, 'alone.mjs'), PLUGIN_MODULE);
      const alone = await cli(['plugins', '--plugin', join(outside, 'alone.mjs')], root);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toMatch(/\[INVALID_CONFIG\] --plugin: cannot import plugin module ".*alone\.mjs": Cannot find package '@genview\/core'/);
      expect(alone.stderr).toMatch(/npm install @genview\/core/);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }

    // A CommonJS plugin gets core's CJS build, the CLI the ESM one: its own GenviewError still reads as one (exit 2, no stack).
    await writeFile(
      join(root, 'project', 'refusing.cjs'),
      `const { GenviewError, definePlugin, z } = require('@genview/core');
       exports.plugins = [definePlugin({ kind: 'loss', name: 'refusing', package: 'my-cjs-plugins', description: 'refuses to build', configSchema: z.object({}).strict(),
         create: () => { throw new GenviewError('INVALID_CONFIG', 'refusing needs a queue.', { where: 'framework.loss', fix: 'use it with moco-v2.' }); } })];`,
    );
    const refused = await cli(['train', '--config', join(root, 'project', 'configs', 'flag.yaml'), '--plugin', './my-plugins.mjs', '--plugin', './refusing.cjs', '--set', 'framework.loss=refusing'], join(root, 'project'));
    expect(refused.stderr).not.toMatch(/unexpected error| {4}at /);
    expect(refused.stderr).toMatch(/genview: \[INVALID_CONFIG\] framework\.loss: refusing needs a queue\. Fix: use it with moco-v2\./);
    expect(refused.code).toBe(2);

    const notInstalled = await cli(['plugins', '--plugin', 'genview-plugins-not-installed'], root);
    expect(notInstalled.code).toBe(2);
    expect(notInstalled.stderr).toMatch(/\[NOT_FOUND\] --plugin: cannot import plugin module "genview-plugins-not-installed"/);
    expect(notInstalled.stderr).toMatch(/npm install genview-plugins-not-installed/);
  }, 60_000);
});
