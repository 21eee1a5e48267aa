import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GenviewError, decodeSafetensors } from '@genview/core';

/** The parts of the standard ONNX diffusion export that this loader reads. */
export const PIPELINE_PARTS = [
  'scheduler',
  'unet',
  'vae_decoder',
  'vae_encoder',
  'text_encoder',
  'tokenizer',
  'image_encoder',
  'image_normalizer',
  'image_noising_scheduler',
  'feature_extractor',
] as const;
export type PipelinePart = (typeof PIPELINE_PARTS)[number];

export interface ImagePreprocessing {
  size: number;
  mean: number[];
  std: number[];
}

export interface PipelineFolder {
  dir: string;
  className: string;
  /** Which optional parts exist (the UNet, the scheduler and the VAE decoder are required). */
  has: Record<PipelinePart, boolean>;
  schedulerConfig: unknown;
  imageNoisingSchedulerConfig?: unknown;
  /** VAE latent scale (0.18215 for SD 1.x/2.x) and the pixel-per-latent factor. */
  vaeScalingFactor: number;
  vaeScaleFactor: number;
  imageSize?: number;
  preprocessing?: ImagePreprocessing;
  normalizer?: { mean: Float32Array; std: Float32Array };
  modelPath(part: 'unet' | 'vae_decoder' | 'vae_encoder' | 'text_encoder' | 'image_encoder'): string;
}

async function readJson(path: string, part: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new GenviewError('NOT_FOUND', `the pipeline has no ${path}.`, {
      where: part,
      fix: 'point the generator at a folder in the standard ONNX diffusion layout (model_index.json, scheduler/, unet/, vae_decoder/ ...).',
      cause: error,
    });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new GenviewError('INVALID_CONFIG', `${path} is not a valid JSON object: ${error instanceof Error ? error.message : String(error)}.`, {
      where: part,
      fix: 'restore the file from the exported pipeline.',
      cause: error,
    });
  }
}

function numberList(value: unknown, field: string, path: string): number[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new GenviewError('INVALID_CONFIG', `${field} must be a number or a list of numbers, got ${JSON.stringify(value)}.`, {
      where: `${path}: ${field}`,
      fix: 'use the values of the image processor the image encoder was trained with (CLIP: mean [0.4815, 0.4578, 0.4082]).',
    });
  }
  return list as number[];
}

/** CLIPImageProcessor writes sizes either as a number or as {shortest_edge} / {height, width}. */
function sizeOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    for (const key of ['height', 'shortest_edge', 'width']) if (typeof v[key] === 'number') return v[key] as number;
  }
  return undefined;
}

/** The image encoder's input size, mean and std from <dir>/feature_extractor/preprocessor_config.json, if present. */
export async function readPreprocessing(dir: string): Promise<ImagePreprocessing | undefined> {
  const path = join(dir, 'feature_extractor', 'preprocessor_config.json');
  if (!existsSync(path)) return undefined;
  const config = await readJson(path, 'feature_extractor');
  const size = sizeOf(config.crop_size) ?? sizeOf(config.size);
  if (size === undefined || size <= 0) {
    throw new GenviewError('INVALID_CONFIG', 'the image processor gives no crop_size or size.', {
      where: `${path}: crop_size`,
      fix: 'set crop_size to the image encoder input size, e.g. {"height": 224, "width": 224}.',
    });
  }
  return {
    size,
    mean: numberList(config.image_mean ?? [0.5], 'image_mean', path),
    std: numberList(config.image_std ?? [0.5], 'image_std', path),
  };
}

async function readNormalizer(dir: string): Promise<{ mean: Float32Array; std: Float32Array } | undefined> {
  const path = join(dir, 'image_normalizer', 'diffusion_pytorch_model.safetensors');
  if (!existsSync(path)) return undefined;
  const tensors = decodeSafetensors(new Uint8Array(await readFile(path)), path);
  const pick = (name: string): Float32Array => {
    const t = tensors.tensors[name];
    if (t === undefined || !(t.data instanceof Float32Array)) {
      throw new GenviewError('BAD_INPUT', `the image normaliser has no float32 tensor "${name}".`, {
        where: path,
        fix: 'save StableUnCLIPImageNormalizer weights (mean and std, shape [1, embedding_dim]) in float32.',
      });
    }
    return t.data;
  };
  return { mean: pick('mean'), std: pick('std') };
}

/** SD exports have 4 VAE blocks (8 pixels per latent); our own pipeline states it in sample_size. */
function vaeFactors(config: Record<string, unknown> | undefined): { scaling: number; factor?: number; sampleSize?: number } {
  const scaling = typeof config?.scaling_factor === 'number' ? config.scaling_factor : 0.18215;
  const blocks = Array.isArray(config?.block_out_channels) ? config.block_out_channels.length : undefined;
  const sampleSize = typeof config?.sample_size === 'number' ? config.sample_size : undefined;
  return { scaling, factor: blocks === undefined ? undefined : 2 ** (blocks - 1), sampleSize };
}

export async function readPipelineFolder(dir: string): Promise<PipelineFolder> {
  const index = await readJson(join(dir, 'model_index.json'), 'model_index.json');
  const has = Object.fromEntries(
    PIPELINE_PARTS.map((part) => {
      const file =
        part === 'scheduler' || part === 'image_noising_scheduler'
          ? 'scheduler_config.json'
          : part === 'tokenizer'
            ? 'vocab.json'
            : part === 'image_normalizer'
              ? 'diffusion_pytorch_model.safetensors'
              : part === 'feature_extractor'
                ? 'preprocessor_config.json'
                : 'model.onnx';
      const present = existsSync(join(dir, part, file)) || (part === 'tokenizer' && existsSync(join(dir, part, 'tokenizer.json')));
      return [part, present];
    }),
  ) as Record<PipelinePart, boolean>;
  for (const part of ['unet', 'scheduler', 'vae_decoder'] as const) {
    if (!has[part]) {
      const file = part === 'scheduler' ? 'scheduler/scheduler_config.json' : `${part}/model.onnx`;
      throw new GenviewError('NOT_FOUND', `${dir} is not a complete diffusion pipeline: ${file} is missing.`, {
        where: part,
        fix: `export the ${part} part into that file (every pipeline needs unet/, scheduler/ and vae_decoder/).`,
      });
    }
  }
  const schedulerConfig = await readJson(join(dir, 'scheduler', 'scheduler_config.json'), 'scheduler');
  const imageNoisingSchedulerConfig = has.image_noising_scheduler
    ? await readJson(join(dir, 'image_noising_scheduler', 'scheduler_config.json'), 'image_noising_scheduler')
    : undefined;
  const vaeConfigPath = ['vae_decoder', 'vae'].map((p) => join(dir, p, 'config.json')).find((p) => existsSync(p));
  const vae = vaeFactors(vaeConfigPath ? await readJson(vaeConfigPath, 'vae_decoder') : undefined);
  const preprocessing = await readPreprocessing(dir);
  return {
    dir,
    className: typeof index._class_name === 'string' ? index._class_name : 'unknown',
    has,
    schedulerConfig,
    imageNoisingSchedulerConfig,
    vaeScalingFactor: vae.scaling,
    vaeScaleFactor: vae.factor ?? 8,
    imageSize: vae.sampleSize,
    preprocessing,
    normalizer: await readNormalizer(dir),
    modelPath: (part) => join(dir, part, 'model.onnx'),
  };
}
