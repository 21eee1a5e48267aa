import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ran, installInto, packDir, packWorkspace, repoRoot, spawnIn } from './packing';

// The seam a plugin author sees, end to end from tarballs: a third-party package that depends on
// @genview/core alone ships a framework, an augmentation and a loss in plain JS; a user project
// installs the packed runner beside it and trains with all three through the packed `genview` binary.

const scratch = mkdtempSync(join(tmpdir(), 'genview-packed-cli-'));
const PLUGIN = '@acme/genview-tiny-byol';

/** The plugin package's one module: written against @genview/core's entry point and nothing else of GenView. */
const PLUGIN_SOURCE = `import { appendFileSync } from 'node:fs';
import {
  backboneFeatures,
  buildBackbone,
  buildHead,
  copyModule,
  cosineMomentum,
  definePlugin,
  emaUpdate,
  forwardViews,
  inputShapeSchema,
  l2Normalize,
  named,
  pluginRefSchema,
  stopGradient,
  tf,
  z,
} from '@genview/core';

const PACKAGE = '${PLUGIN}';

// Lets the packed-CLI test see each part run; a real plugin would report through context.events.
function trace(line) {
  if (process.env.ACME_TRACE) appendFileSync(process.env.ACME_TRACE, line + '\\n');
}

/** BYOL-like: online encoder, projector and predictor regress an EMA copy of encoder and projector. */
export const tinyByol = definePlugin({
  kind: 'framework',
  name: 'tiny-byol',
  package: PACKAGE,
  description: 'BYOL-like: an online predictor regresses an EMA target (a third-party framework on @genview/core alone).',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default({ name: 'small-cnn', widths: [4, 8] }),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 16, outDim: 8 }),
      predictor: pluginRefSchema.default({ name: 'mlp-predictor', hiddenDim: 16 }),
      loss: pluginRefSchema.default(PACKAGE + ':pair-regression'),
      momentum: z.number().min(0).max(1).default(0.9),
    })
    .strict(),
  async create(config, context) {
    const backbone = await buildBackbone(context, config.backbone, config.inputShape);
    const projector = await buildHead(context, config.projector, backbone.featureDim, context.path + '.projector');
    const predictorRef = typeof config.predictor === 'string' ? { name: config.predictor } : config.predictor;
    const predictor = await buildHead(context, { outDim: projector.outDim, ...predictorRef }, projector.outDim, context.path + '.predictor');
    const targetBackbone = await buildBackbone(context, config.backbone, config.inputShape, context.path + '.targetBackbone');
    const targetProjector = await buildHead(context, config.projector, backbone.featureDim, context.path + '.targetProjector');
    copyModule(backbone, targetBackbone);
    copyModule(projector, targetProjector);
    const loss = await context.registry.create('loss', config.loss, { ...context, path: context.path + '.loss' });
    const online = [named(backbone, 'backbone'), named(projector, 'projector'), named(predictor, 'predictor')];
    return {
      name: 'tiny-byol',
      trainableModules: () => online,
      stateModules: () => [...online, named(targetBackbone, 'target_backbone'), named(targetProjector, 'target_projector')],
      loss: (batch) => {
        const predictions = forwardViews(batch.views, [backbone, projector, predictor], true);
        const targets = forwardViews(batch.views, [targetBackbone, targetProjector], true).map((t) => stopGradient(t));
        return loss.compute({ views: predictions, predictions, targets, weights: batch.weights });
      },
      afterStep: (_batch, step, totalSteps) => {
        const tau = cosineMomentum(config.momentum, step, totalSteps);
        emaUpdate(backbone, targetBackbone, tau);
        emaUpdate(projector, targetProjector, tau);
        trace('ema ' + tau);
      },
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        for (const m of [backbone, projector, predictor, targetBackbone, targetProjector]) m.dispose();
      },
    };
  },
});

/** scale · mean over ordered view pairs i ≠ j of (2 − 2 cos(prediction_i, target_j)): in [0, 4·scale]. */
export const pairRegression = definePlugin({
  kind: 'loss',
  name: 'pair-regression',
  package: PACKAGE,
  description: 'BYOL-style regression of each prediction onto the other views\\' targets (third-party).',
  configSchema: z.object({ scale: z.number().positive().default(1) }).strict(),
  create: (config) => ({
    name: 'pair-regression',
    requires: ['predictions', 'targets'],
    crossProcess: { kind: 'local' },
    compute: ({ predictions, targets }) => {
      const value = tf.tidy(() => {
        const terms = [];
        for (let i = 0; i < predictions.length; i++) {
          for (let j = 0; j < targets.length; j++) {
            if (i === j) continue;
            const cos = tf.sum(tf.mul(l2Normalize(predictions[i], 1), l2Normalize(targets[j], 1)), 1);
            terms.push(tf.mean(tf.sub(2, tf.mul(2, cos))));
          }
        }
        return tf.mul(tf.mean(tf.stack(terms)), config.scale);
      });
      trace('loss ' + value.dataSync()[0]);
      return value;
    },
  }),
});

/** One random gain per image, multiplied into every channel and clipped to [0, 1]. */
export const channelGain = definePlugin({
  kind: 'augment',
  name: 'channel-gain',
  package: PACKAGE,
  description: 'a random brightness gain per image (a third-party augmentation).',
  configSchema: z.object({ max: z.number().min(0).max(1).default(0.2) }).strict(),
  create: (config) => ({
    name: 'channel-gain',
    sampleParams: (rng, batchSize) => Array.from({ length: batchSize }, () => rng.uniform(1 - config.max, 1 + config.max)),
    apply: (images, gains) => {
      trace('augment ' + images.shape[0]);
      return tf.tidy(() => tf.clipByValue(tf.mul(images, tf.reshape(tf.tensor1d(gains), [-1, 1, 1, 1])), 0, 1));
    },
  }),
});

export const plugins = [tinyByol, pairRegression, channelGain];
`;

/** A run of a few seconds on 8x8 synthetic coloured digits (no download), naming every third-party part by package:name. */
function runConfig(outDir: string): string {
  const digits = (split: string, count: number) => `{ name: colored-digits, split: ${split}, count: ${count}, size: 8, colors: 3, seed: 3 }`;
  const view = `[{ name: random-resized-crop, size: 8, scale: [0.5, 1] }, { name: '${PLUGIN}:channel-gain', max: 0.3 }]`;
  return `plugins: ['${PLUGIN}']
seed: 1
outDir: ${outDir}
data:
  train: ${digits('train', 64)}
  test: ${digits('test', 32)}
views:
  pipelines: [${view}, ${view}]
framework:
  name: '${PLUGIN}:tiny-byol'
  loss: { name: '${PLUGIN}:pair-regression', scale: 3 }
optimizer: { name: adam }
trainer: { steps: 100, batchSize: 16, lr: 0.002, scaleLr: false, logEvery: 1 }
eval: { evaluators: [{ name: knn, k: [5] }], baselines: false }
`;
}

function versionOf(name: string): string {
  return (JSON.parse(readFileSync(join(repoRoot, 'packages', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The GenView packages a `node_modules` folder holds. */
function genviewPackages(nodeModules: string): string[] {
  const dir = join(nodeModules, '@genview');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

const RUNNER_AND_ITS_DEPENDENCIES = ['core', 'datasets', 'views', 'quality', 'losses', 'backbones', 'eval', 'runner'];

describe('the packed genview CLI with a third-party plugin package that depends on @genview/core alone', () => {
  const pluginDir = join(scratch, 'plugin');
  const project = join(scratch, 'project');
  const tarballs = join(scratch, 'tarballs');
  const trace = join(scratch, 'trace.txt');
  const genview = (args: string[], cwd = project): Ran => spawnIn(join(project, 'node_modules', '.bin', 'genview'), args, cwd, { ACME_TRACE: trace });

  beforeAll(() => {
    mkdirSync(tarballs);
    const core = packWorkspace('core', tarballs);
    const coreVersion = versionOf('core');
    // The author's own checkout: core is its peer (the user's project provides it) and, to develop against, a dev dependency.
    mkdirSync(pluginDir);
    writeFileSync(join(pluginDir, 'index.js'), PLUGIN_SOURCE);
    installInto(pluginDir, [], {
      name: PLUGIN,
      version: '1.0.0',
      private: false,
      exports: './index.js',
      files: ['index.js'],
      peerDependencies: { '@genview/core': `^${coreVersion}` },
      devDependencies: { '@genview/core': `file:${core}` },
    });
    const plugin = packDir(pluginDir, tarballs);
    const others = RUNNER_AND_ITS_DEPENDENCIES.filter((name) => name !== 'core').map((name) => packWorkspace(name, tarballs));
    installInto(project, [core, ...others, plugin], { name: 'user-project' });
    writeFileSync(join(project, 'run.yaml'), runConfig(join(project, 'runs', 'byol')));
  }, 240_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the plugin package installs and imports with @genview/core as its only GenView package', () => {
    expect(genviewPackages(join(pluginDir, 'node_modules'))).toEqual(['core']);
    const names = spawnIn('node', ['--input-type=module', '-e', `const m = await import('${join(pluginDir, 'index.js')}'); console.log(m.plugins.map((p) => p.kind + ':' + p.name).join(' '))`], pluginDir);
    expect(names.stderr).toBe('');
    expect(names.stdout.trim()).toBe('framework:tiny-byol loss:pair-regression augment:channel-gain');
    // In the user's project the plugin shares the project's one @genview/core with the runner.
    expect(genviewPackages(join(project, 'node_modules'))).toEqual([...RUNNER_AND_ITS_DEPENDENCIES].sort());
    expect(existsSync(join(project, 'node_modules', '@acme', 'genview-tiny-byol', 'node_modules'))).toBe(false);
  });

  it('genview plugins lists the third-party plugins from the config and from --plugin', () => {
    const version = genview(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(versionOf('runner'));
    const listed = genview(['plugins', '--config', 'run.yaml']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    for (const name of ['tiny-byol', 'pair-regression', 'channel-gain']) expect(listed.stdout).toContain(`  ${name}  (${PLUGIN})`);
    expect(listed.stdout).toContain('  simclr  (@genview/runner)');
    const frameworks = genview(['plugins', 'framework', '--plugin', PLUGIN]);
    expect(frameworks.code).toBe(0);
    expect(frameworks.stdout).toContain(`  tiny-byol  (${PLUGIN})`);
    expect(frameworks.stdout).not.toContain('  pair-regression  (');
  });

  it('names what is missing when the plugin package is misspelt or not listed under plugins:', () => {
    const config = runConfig(join(project, 'runs', 'broken'));
    writeFileSync(join(project, 'misspelt.yaml'), config.replace(`plugins: ['${PLUGIN}']`, "plugins: ['@acme/genview-tiny-byl']"));
    const misspelt = genview(['train', '--config', 'misspelt.yaml']);
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toContain(
      `[NOT_FOUND] plugins[0]: cannot import plugin module "@acme/genview-tiny-byl": no package "@acme/genview-tiny-byl" is installed in the node_modules folders from ${project} up, nor beside @genview/runner.`,
    );
    expect(misspelt.stderr).toContain(`Fix: did you mean "${PLUGIN}" (installed)? Install the package where the config is (npm install @acme/genview-tiny-byl)`);

    writeFileSync(join(project, 'unlisted.yaml'), config.replace(`plugins: ['${PLUGIN}']`, ''));
    const unlisted = genview(['train', '--config', 'unlisted.yaml']);
    expect(unlisted.code).toBe(2);
    expect(unlisted.stderr).toMatch(/\[UNKNOWN_PLUGIN\] \S+: no \w+ plugin named "@acme\/genview-tiny-byol:[a-z-]+": no plugins from the package "@acme\/genview-tiny-byol" are registered\./);
    expect(unlisted.stderr).toContain(`list the package in the config (plugins: [${PLUGIN}]) or pass --plugin ${PLUGIN}`);
    expect(existsSync(join(project, 'runs', 'broken'))).toBe(false);
  });

  it('genview train runs the third-party framework, augmentation and loss, then evaluates and reloads it', () => {
    rmSync(trace, { force: true });
    const trained = genview(['train', '--config', 'run.yaml', '--set', 'trainer.steps=3', '--plain']);
    expect(trained.stderr).not.toMatch(/genview:/);
    expect(trained.code).toBe(0);
    const outDir = join(project, 'runs', 'byol');
    expect(existsSync(join(outDir, 'last.safetensors'))).toBe(true);
    const metrics = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step?: number; loss?: number })
      .filter((m) => m.loss !== undefined);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);

    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    const traced = (what: string) => lines.filter((l) => l.startsWith(`${what} `)).map((l) => Number(l.slice(what.length + 1)));
    // Every logged loss is a value the third-party loss computed, inside its range [0, 4·scale].
    for (const { loss } of metrics) {
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeGreaterThanOrEqual(0);
      expect(loss).toBeLessThanOrEqual(12);
      expect(traced('loss')).toContain(loss);
    }
    // Two views per step went through the augmentation, and the EMA ran after each of the 3 steps.
    expect(traced('augment').filter((n) => n === 16).length).toBeGreaterThanOrEqual(6);
    expect(traced('ema')).toHaveLength(3);

    const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as {
      config: { plugins: string[]; framework: { name: string } };
      evaluations: { encoder: string; results: { evaluator: string }[] }[];
    };
    expect(results.config.plugins).toEqual([PLUGIN]);
    expect(results.config.framework.name).toBe(`${PLUGIN}:tiny-byol`);
    expect(results.evaluations[0]?.encoder).toBe('tiny-byol');
    expect(results.evaluations[0]?.results[0]?.evaluator).toBe('knn');

    // The saved config names the package, which resolves again from the run directory inside the project.
    const evaluated = genview(['eval', '--config', join(outDir, 'config.json'), '--plain']);
    expect(evaluated.stderr).not.toMatch(/genview:/);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stderr).toMatch(/loaded tiny-byol from .*byol \(step 3\)/);
  });
});
