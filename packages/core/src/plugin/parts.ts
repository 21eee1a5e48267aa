/**
 * What a plugin that composes other plugins needs, whichever package it lives in: plugin references in
 * its config schema, building a child backbone or head from a reference through the registry, the
 * frozen encoder evaluators read, and momentum (EMA) pairs. A third-party framework is written against
 * these and @genview/core alone.
 */
import { z } from 'zod';
import { GenviewError } from '../errors';
import { type Tensor4D, tf } from '../tf';
import type { Backbone, FeatureExtractor, Head, ImageShape, Module } from './contracts';
import type { PluginContext } from './define';
import type { PluginRef } from './registry';

/** A plugin reference: "name", "package:name", or { name, ...options }. Options are validated by the plugin. */
export const pluginRefSchema = z.union([z.string().min(1), z.looseObject({ name: z.string().min(1) })]);
export type PluginRefConfig = z.infer<typeof pluginRefSchema>;

/** Input shape [H, W, C] a host fills in from the dataset; frameworks pass it on to their backbone. */
export const inputShapeSchema = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);

function refToObject(ref: PluginRef): { name: string } & Record<string, unknown> {
  return typeof ref === 'string' ? { name: ref } : { ...ref };
}

function schemaKeys(schema: unknown): Set<string> {
  const shape = (schema as { shape?: Record<string, unknown> }).shape;
  return new Set(shape && typeof shape === 'object' ? Object.keys(shape) : []);
}

/**
 * Builds a backbone by name through `context.registry`. Backbones that declare `inChannels` /
 * `imageSize` options get them from the data unless the config sets them, so one config works for
 * 1- and 3-channel datasets.
 */
export async function buildBackbone(context: PluginContext, ref: PluginRef, inputShape: ImageShape | undefined, path = `${context.path}.backbone`): Promise<Backbone> {
  const options = refToObject(ref);
  if (inputShape) {
    const keys = schemaKeys(context.registry.resolve('backbone', options.name, path).configSchema);
    if (keys.has('inChannels') && options.inChannels === undefined) options.inChannels = inputShape[2];
    if (keys.has('imageSize') && options.imageSize === undefined) options.imageSize = inputShape[0];
  }
  return context.registry.create('backbone', options, { rng: context.rng, events: context.events, path });
}

/** Builds a head through `context.registry`; its input size follows the module before it. */
export async function buildHead(context: PluginContext, ref: PluginRef, inDim: number, path: string): Promise<Head> {
  const options = refToObject(ref);
  if (options.inDim !== undefined && options.inDim !== inDim) {
    throw new GenviewError('INVALID_CONFIG', `inDim is ${String(options.inDim)} but the module before it outputs ${inDim}.`, {
      where: `${path}.inDim`,
      fix: 'remove inDim: it is set from the backbone.',
    });
  }
  options.inDim = inDim;
  return context.registry.create('head', options, { rng: context.rng, events: context.events, path });
}

/** The frozen view of a backbone that evaluators use: pooled features in inference mode. */
export function backboneFeatures(backbone: Backbone): FeatureExtractor {
  return {
    featureDim: backbone.featureDim,
    embed: (images: Tensor4D) => tf.tidy(() => backbone.apply(images, { training: false }) as tf.Tensor2D),
    ...(backbone.featureMap
      ? {
          patchTokens: (images: Tensor4D) =>
            tf.tidy(() => {
              const map = backbone.featureMap!(images, { training: false });
              const [n, h, w, d] = map.shape;
              return tf.reshape(map, [n, h * w, d]) as tf.Tensor3D;
            }),
        }
      : {}),
  };
}

/** Runs every view through the same modules in one pass (bigger matmuls, global batch norm over all views). */
export function forwardViews(views: Tensor4D[], modules: Module[], training: boolean): tf.Tensor2D[] {
  const n = views[0].shape[0];
  let x: tf.Tensor = views.length === 1 ? views[0] : tf.concat(views, 0);
  for (const module of modules) x = module.apply(x, { training });
  return tf.split(x, views.map(() => n), 0) as tf.Tensor2D[];
}

/** Copies every variable of `source` into `target` (same architecture, same names). */
export function copyModule(source: Module, target: Module): void {
  const targetVars = new Map(target.variables().map((v) => [v.name, v.variable]));
  for (const { name, variable } of source.variables()) {
    const dst = targetVars.get(name);
    if (!dst) throw new GenviewError('INTERNAL', `target module has no variable ${name}.`);
    dst.assign(variable);
  }
}

/**
 * target ← τ·target + (1−τ)·online for trainable variables. Buffers (batch-norm statistics) are the
 * target's own, updated by its forward passes, as in BYOL and MoCo.
 */
export function emaUpdate(online: Module, target: Module, tau: number): void {
  const targetVars = new Map(target.variables().map((v) => [v.name, v.variable]));
  tf.tidy(() => {
    for (const { name, variable, trainable } of online.variables()) {
      if (!trainable) continue;
      const dst = targetVars.get(name)!;
      dst.assign(tf.add(tf.mul(dst, tau), tf.mul(variable, 1 - tau)));
    }
  });
}

/** BYOL's schedule: τ rises from base to 1 along a cosine over training. */
export function cosineMomentum(base: number, step: number, totalSteps: number): number {
  const progress = totalSteps > 0 ? Math.min(1, step / totalSteps) : 1;
  return 1 - (1 - base) * (Math.cos(Math.PI * progress) + 1) / 2;
}

/**
 * The same module under another name. Checkpoints key variables as "<module name>/<variable name>",
 * so a framework names its modules by role (backbone, key_backbone...) to keep the keys unique.
 */
export function named<M extends Module>(module: M, name: string): Module {
  return {
    name,
    variables: () => module.variables(),
    apply: (x, mode) => module.apply(x, mode),
    dispose: () => module.dispose(),
  };
}
