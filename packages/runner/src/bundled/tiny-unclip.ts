import type { PluginRef } from '@genview/core';
import { type ModuleImporter, importOptionalPeer } from './optional-peer';

/**
 * The names a config uses for the models shipped in @genview/model-tiny-unclip, so configs stay
 * portable: `path: tiny-unclip` (generator), `pipeline: tiny-unclip` (generative prior) and
 * `onnx:tiny-clip` (frozen CLIP). This file is the one place they are resolved.
 */
export const BUNDLED_PIPELINE = 'tiny-unclip';
export const BUNDLED_CLIP = 'tiny-clip';

const PACKAGE = '@genview/model-tiny-unclip';

type TinyUnclipModule = typeof import('@genview/model-tiny-unclip');

function loadPackage(alias: string, where: string, alternative: string, importer?: ModuleImporter): Promise<TinyUnclipModule> {
  return importOptionalPeer<TinyUnclipModule>({ name: PACKAGE, neededFor: `the bundled model "${alias}"`, where, alternative, importer });
}

/** A pipeline folder as written in a config: the bundled alias becomes the installed package's folder. */
export async function bundledPipelineDir(pipeline: string, where: string, importer?: ModuleImporter): Promise<string> {
  if (pipeline !== BUNDLED_PIPELINE) return pipeline;
  return (await loadPackage(pipeline, where, 'point this field at the folder of an ONNX diffusion pipeline export', importer)).tinyUnclipPath;
}

/** A frozen CLIP folder (the part after "onnx:"): the bundled alias becomes the installed package's folder. */
export async function bundledClipDir(name: string, where: string, importer?: ModuleImporter): Promise<string> {
  if (name !== BUNDLED_CLIP) return name;
  return (await loadPackage(name, where, 'name a CLIP exported to ONNX as "onnx:<folder>"', importer)).tinyClipPath;
}

/** A generator reference whose `path` may be the bundled alias. */
export async function withBundledModel(ref: PluginRef, where: string, importer?: ModuleImporter): Promise<PluginRef> {
  if (typeof ref === 'string' || (ref as { path?: unknown }).path !== BUNDLED_PIPELINE) return ref;
  return { ...ref, path: await bundledPipelineDir(BUNDLED_PIPELINE, `${where}.path`, importer) };
}
