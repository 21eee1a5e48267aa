import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type EventBus,
  type FeatureExtractor,
  type Framework,
  type FrozenVisionLanguageModel,
  GenviewError,
  type ImageShape,
  type PatchTokenEncoder,
  type PluginRef,
  type PluginServices,
  type Registry,
  Rng,
  type Tokenizer,
  decodeSafetensors,
  readFileIfExists,
  requireVisionLanguageEncoder,
  tf,
  writeFileAtomic,
} from '@genview/core';
import { setTorchWeights } from '@genview/backbones';
import { OnnxClipModel, OnnxImageEncoder, OnnxPatchEncoder } from '@genview/views';
import { BUNDLED_CLIP, bundledClipDir } from '../bundled/tiny-unclip';
import { validateRunConfig } from '../config/load';
import { migrateRunConfig } from '../config/migrate';
import type { RunConfig } from '../config/schema';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { isStagedFramework, loadStages } from '../trainer/stages';
import { withInputShape, withoutInitialWeights } from './framework-ref';
import { memoByName } from './memo-by-name';
import { parseOnnxEncoderName } from './onnx-encoder-name';
import { tokenizerSource } from './tokenizers';

/** The run config a training run leaves in its outDir, with the framework's input shape filled in. */
export const RUN_CONFIG_FILE = 'config.json';

const ACCEPTED =
  '"checkpoint:<run directory>" (the encoder of a trained run), "safetensors:<file>" (PyTorch weights, torchvision/timm names, ' +
  'in this config\'s backbone), "onnx:<file>[?options]" (any ONNX image model, frozen) or "random:<seed>" (this config\'s framework, freshly initialised)';

export interface RunnerServicesOptions {
  /** The run asking: its framework is the one `random:<seed>` builds. */
  config: RunConfig;
  /** The images the extractors will see; a checkpoint trained on other images is refused. */
  imageShape: ImageShape;
  registry: Registry;
  events: EventBus;
  /**
   * Where the "captions" tokenizer is saved and read (default config.outDir), whether a saved one is
   * reused (default true; a fresh training run learns it again), and the captions it is learned from.
   */
  tokenizer?: { runDir?: string; reuse?: boolean; captions?: { dataset: string; texts?: readonly string[] } };
}

export interface RunnerServices extends PluginServices {
  featureExtractor(name: string): Promise<FeatureExtractor>;
  /**
   * A frozen encoder of patch tokens: "onnx:<folder>" (an image tower exporting patch_tokens; "onnx:tiny-clip"
   * is the bundled CLIP's) or any featureExtractor name whose network has a spatial map.
   */
  patchTokenEncoder(name: string): Promise<PatchTokenEncoder>;
  tokenizer(name: string): Promise<Tokenizer>;
  /**
   * A frozen image-text model: "onnx:<folder>" (a CLIP exported to ONNX; "onnx:tiny-clip" is the bundled
   * one) or "checkpoint:<run directory>" (a trained clip or slip run's joint space).
   */
  visionLanguageModel(name: string): Promise<FrozenVisionLanguageModel>;
  /** Frees every network built for an extractor; extractors handed out stop working. */
  dispose(): void;
}

/**
 * Writes the config a run used, with the framework's input shape resolved, so a later process can
 * rebuild the exact network around the run's checkpoint without loading its dataset. JSON is YAML, so
 * the file also works as `genview train --config`.
 */
export async function saveRunConfig(outDir: string, config: RunConfig, framework: PluginRef): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, RUN_CONFIG_FILE);
  const text = `${JSON.stringify({ ...config, framework }, null, 2)}\n`;
  // A resume usually saves the same config again; not rewriting it keeps a nearly full disk for the checkpoint.
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  await writeFileAtomic(path, text);
}

/** The config a run saved: config.json, else the `config` in results.json (runs older than config.json). */
export function readRunConfig(runDir: string): RunConfig {
  const configPath = join(runDir, RUN_CONFIG_FILE);
  const resultsPath = join(runDir, 'results.json');
  let raw: unknown;
  let source: string;
  if (existsSync(configPath)) {
    source = configPath;
    raw = parseJson(configPath);
  } else if (existsSync(resultsPath)) {
    source = resultsPath;
    raw = (parseJson(resultsPath) as { config?: unknown }).config;
  } else {
    throw new GenviewError('NOT_FOUND', `${runDir} holds neither ${RUN_CONFIG_FILE} nor results.json, so its network cannot be rebuilt.`, {
      where: runDir,
      fix: 'point checkpoint:<dir> at the outDir of a `genview train` run.',
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GenviewError('UNREADABLE_FILE', 'the file holds no run config object.', { where: source, fix: 'train the run again, or restore the file.' });
  }
  return migrateRunConfig(validateRunConfig(raw as Record<string, unknown>, source)).config;
}

function parseJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', 'the file is not valid JSON.', { where: path, fix: 'train the run again, or restore the file.', cause: error });
  }
}

/** An onnx:<arg> that names one model file (with options after "?"), not a folder. */
function isOnnxModelFile(arg: string): boolean {
  const file = parseOnnxEncoderName(arg, `onnx:${arg}`).file;
  return file.endsWith('.onnx') || (existsSync(file) && statSync(file).isFile());
}

/** "kind:arg" names ("checkpoint:runs/x", "onnx:tiny-clip"); a name without a kind gives kind "". */
function splitServiceName(name: string): { kind: string; arg: string } {
  const colon = name.indexOf(':');
  return colon > 0 ? { kind: name.slice(0, colon), arg: name.slice(colon + 1) } : { kind: '', arg: '' };
}

function savedInputShape(ref: unknown): ImageShape | undefined {
  const shape = typeof ref === 'object' && ref !== null ? (ref as { inputShape?: unknown }).inputShape : undefined;
  return Array.isArray(shape) && shape.length === 3 && shape.every((d) => Number.isInteger(d) && d > 0) ? (shape as ImageShape) : undefined;
}

/**
 * The runner's answer to `context.services.featureExtractor(name)`: frozen encoders (inference mode,
 * never handed to an optimizer) with patch tokens where the backbone has a spatial map. Each name is
 * built once and shared by every plugin that asks for it. `tokenizer(name)` is tokenizerSource's: the
 * run's captions tokenizer, or a CLIP tokenizer by path; a checkpoint:<dir> encoder reads <dir>'s own.
 */
export function createRunnerServices(options: RunnerServicesOptions): RunnerServices {
  const { registry, events, imageShape } = options;
  /** Everything built for an extractor: frameworks, and multi-stage runs' stage sets. */
  const owned: { dispose(): void }[] = [];
  let disposed = false;
  /**
   * Keeps `thing` for dispose(); one whose load finished after dispose() is released at once and its
   * caller told, instead of holding a model (an ONNX session, a framework's weights) nobody will free.
   */
  const own = (thing: { dispose(): void }, name: string): void => {
    if (!disposed) {
      owned.push(thing);
      return;
    }
    thing.dispose();
    throw new GenviewError('INTERNAL', `${name} finished loading after the services were disposed, so it was released.`, {
      where: 'services',
      fix: 'ask for services before disposing them (dispose once the run is over).',
    });
  };
  const captions = options.tokenizer?.captions;
  const tokenizer = tokenizerSource({
    runDir: options.tokenizer?.runDir ?? options.config.outDir,
    reuse: options.tokenizer?.reuse ?? true,
    settings: options.config.tokenizer,
    captions,
    events,
  });

  const createFramework = async (ref: PluginRef, shape: ImageShape, seed: number, where: string, services: PluginServices): Promise<Framework> => {
    const framework = await registry.create('framework', withInputShape(registry, ref, shape), { rng: new Rng(seed), events, path: where, services });
    own(framework, where);
    return framework;
  };

  const fromCheckpoint = async (name: string, dir: string): Promise<FeatureExtractor> => {
    const runDir = resolve(dir);
    const config = readRunConfig(runDir);
    const shape = savedInputShape(config.framework) ?? imageShape;
    if (shape.join('x') !== imageShape.join('x')) {
      throw new GenviewError('BAD_SHAPE', `the encoder of ${runDir} was trained on [${shape.join(', ')}] images, these are [${imageShape.join(', ')}].`, {
        where: name,
        fix: 'use an encoder trained on images of this size and channel count.',
      });
    }
    // A vision-language run encodes text with the tokenizer saved beside its checkpoint.
    const runTokenizer = tokenizerSource({ runDir, reuse: true, settings: config.tokenizer, captions, events });
    const where = `services.${name}`;
    // The checkpoints hold every weight, so a backbone's initial-weights file is not needed (nor read) again.
    const ref = withoutInitialWeights(registry, config.framework as PluginRef);
    const created = await registry.create('framework', withInputShape(registry, ref, shape), { rng: new Rng(config.seed), events, path: where, services: { tokenizer: runTokenizer } });
    if (isStagedFramework(created)) {
      // A multi-stage run's encoder is its integration of every stage, as `genview train` evaluated it.
      const loaded = await loadStages(created, runDir, config.seed);
      own(loaded, name);
      events.log('services', `feature extractor ${name}: ${created.name} integration of ${loaded.encoders.length} stages (steps ${loaded.steps.join(', ')})`);
      return loaded.integrated;
    }
    own(created, where);
    const framework = created;
    const meta = loadModelState(runDir, namespacedVariables(framework.stateModules()));
    events.log('services', `feature extractor ${name}: ${framework.name} at step ${meta.step}`);
    return framework.encoder();
  };

  /** This config's framework with PyTorch weights in its backbone: its encoder is that backbone's features. */
  const fromSafetensors = async (name: string, file: string): Promise<FeatureExtractor> => {
    const path = resolve(file);
    const bytes = await readFileIfExists(path);
    if (bytes === null) {
      throw new GenviewError('NOT_FOUND', `no weights file at ${path}.`, { where: name, fix: 'name an existing safetensors file of PyTorch weights.' });
    }
    const ref = withoutInitialWeights(registry, options.config.framework as PluginRef);
    const framework = await createFramework(ref, imageShape, options.config.seed, `services.${name}`, { tokenizer });
    const backbone = framework.stateModules().find((m) => m.name === 'backbone');
    const encoder = framework.encoder();
    if (!backbone || 'embedTexts' in encoder) {
      throw new GenviewError('INVALID_CONFIG', `safetensors weights fill an image backbone, and framework ${framework.name} ${backbone ? 'encodes images and text' : 'has no module named "backbone"'}.`, {
        where: name,
        fix: 'use an image framework (simclr, moco-v2, byol, simsiam, ...) whose backbone matches the file, e.g. resnet-18 with stem: imagenet.',
      });
    }
    const report = setTorchWeights(backbone, decodeSafetensors(bytes, path).tensors, { source: path });
    const dtypes = Object.entries(report.storedDtypes).map(([d, n]) => `${n} ${d}`).join(', ');
    events.log('services', `feature extractor ${name}: ${report.loaded} tensors (${dtypes}) in ${framework.name}'s backbone${report.ignored.length ? `, ${report.ignored.length} skipped` : ''}`);
    return encoder;
  };

  /** Any ONNX image model, run by onnxruntime on these images (resized, normalised and laid out as the name's options say). */
  const fromOnnx = async (name: string, arg: string): Promise<FeatureExtractor> => {
    const { file, options: encoderOptions } = parseOnnxEncoderName(arg, name);
    const encoder = await OnnxImageEncoder.load(file, imageShape, encoderOptions);
    own(encoder, name);
    events.log('services', `feature extractor ${name}: ONNX ${encoder.describe()}`);
    return encoder;
  };

  const build = (name: string): Promise<FeatureExtractor> => {
    const { kind, arg } = splitServiceName(name);
    if (kind === 'onnx' && arg.length > 0) return fromOnnx(name, arg);
    if (kind === 'checkpoint' && arg.length > 0) return fromCheckpoint(name, arg);
    if (kind === 'safetensors' && arg.length > 0) return fromSafetensors(name, arg);
    if (kind === 'random' && /^\d+$/.test(arg)) {
      return createFramework(options.config.framework as PluginRef, imageShape, Number(arg), `services.${name}`, { tokenizer }).then((f) => f.encoder());
    }
    throw new GenviewError('NOT_FOUND', `no feature extractor named "${name}".`, {
      where: 'services.featureExtractor',
      fix: `name one as ${ACCEPTED}.`,
    });
  };

  const extractors = memoByName(build);
  const buildVisionLanguage = async (name: string): Promise<FrozenVisionLanguageModel> => {
    const { kind, arg } = splitServiceName(name);
    if (kind === 'onnx' && arg.length > 0) {
      const model = await OnnxClipModel.load(await bundledClipDir(arg, 'services.visionLanguageModel'));
      own(
        {
          dispose: () => {
            model.dispose().catch((error: unknown) => events.log('services', `releasing ${name} failed: ${error instanceof Error ? error.message : String(error)}`));
          },
        },
        name,
      );
      events.log('services', `vision-language model ${name}: ONNX, ${model.jointDim}-d joint space`);
      return model;
    }
    if (kind === 'checkpoint' && arg.length > 0) {
      // The same network the feature-extractor service hands out for this run, not a second copy.
      const encoder = requireVisionLanguageEncoder(await extractors.get(name), name);
      // Trained towers run in TensorFlow.js, synchronously; the contract is asynchronous for ONNX models.
      return {
        jointDim: encoder.jointDim,
        embedImages: async (images) => tf.tidy(() => encoder.embedImages(images)),
        embedTexts: async (texts) => tf.tidy(() => encoder.embedTexts(texts)),
      };
    }
    throw new GenviewError('NOT_FOUND', `no vision-language model named "${name}".`, {
      where: 'services.visionLanguageModel',
      fix: `name one as "onnx:<folder>" (${BUNDLED_CLIP} for the bundled one) or "checkpoint:<run directory>" of a clip or slip run.`,
    });
  };

  const visionLanguage = memoByName(buildVisionLanguage);
  const buildTokenEncoder = async (name: string): Promise<PatchTokenEncoder> => {
    const { kind, arg } = splitServiceName(name);
    // onnx:<file.onnx> is any image model (the feature extractor below); onnx:<folder> an image tower exporting patch_tokens.
    if (kind === 'onnx' && arg.length > 0 && !isOnnxModelFile(arg)) {
      const encoder = await OnnxPatchEncoder.load(await bundledClipDir(arg, 'services.patchTokenEncoder'));
      own(
        {
          dispose: () => {
            encoder.dispose().catch((error: unknown) => events.log('services', `releasing ${name} failed: ${error instanceof Error ? error.message : String(error)}`));
          },
        },
        name,
      );
      events.log('services', `patch-token encoder ${name}: ONNX, ${encoder.tokens} tokens of ${encoder.tokenDim}`);
      return encoder;
    }
    const extractor = await extractors.get(name);
    if (typeof extractor.patchTokens !== 'function') {
      throw new GenviewError('INVALID_CONFIG', `the encoder ${name} has no patch tokens (its network has no spatial feature map).`, {
        where: 'services.patchTokenEncoder',
        fix: 'use a CNN or ViT backbone, or "onnx:<folder>" of an image tower exporting patch_tokens ("onnx:tiny-clip" for the bundled one).',
      });
    }
    return extractor as PatchTokenEncoder;
  };
  const tokenEncoders = memoByName(buildTokenEncoder);
  return {
    featureExtractor: (name: string) => extractors.get(name),
    visionLanguageModel: (name: string) => visionLanguage.get(name),
    patchTokenEncoder: (name: string) => tokenEncoders.get(name),
    tokenizer,
    dispose(): void {
      disposed = true;
      for (const thing of owned.splice(0)) thing.dispose();
      extractors.clear();
      visionLanguage.clear();
      tokenEncoders.clear();
    },
  };
}
