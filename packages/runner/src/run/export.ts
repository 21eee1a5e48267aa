import { resolve } from 'node:path';
import { EventBus, GenviewError, type PluginRef, type Registry, Rng, selectBackend } from '@genview/core';
import { saveBackboneOnnx, saveTorchWeights } from '@genview/backbones';
import { createRegistry } from '../registry';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { isStagedFramework } from '../trainer/stages';
import { withInputShape, withoutInitialWeights } from './framework-ref';
import { readRunConfig } from './services';

export type ExportFormat = 'safetensors' | 'onnx';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['safetensors', 'onnx'];

export interface ExportOptions {
  /** The outDir of a `genview train` run. */
  runDir: string;
  format: ExportFormat;
  /** Default <runDir>/backbone.safetensors or <runDir>/backbone.onnx. */
  out?: string;
  /** How safetensors floats are stored; default F32. ONNX models are always F32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  registry?: Registry;
  events?: EventBus;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  framework: string;
  backbone: string;
  step: number;
  tensors: number;
}

/**
 * Writes a trained run's online backbone. safetensors: a state dict with torchvision/timm names and
 * layouts (OIHW convolutions), which `model.load_state_dict(load_file(path))` takes into the matching
 * torchvision model once its classifier is removed (`model.fc = torch.nn.Identity()`). onnx: an opset-17
 * model for onnxruntime (ResNet, small-cnn and ViT backbones) with input `pixels`, float32 NCHW RGB in
 * [0, 1] (the values the backbone saw in training, no mean/std), and output `features` [N, featureDim].
 */
export async function exportRun(options: ExportOptions): Promise<ExportResult> {
  const runDir = resolve(options.runDir);
  if (!EXPORT_FORMATS.includes(options.format)) {
    throw new GenviewError('BAD_ARGUMENT', `export format "${String(options.format)}" is not supported.`, {
      where: 'genview export --format',
      fix: `use --format ${EXPORT_FORMATS.join(' or ')}.`,
    });
  }
  if (options.format === 'onnx' && options.dtype !== undefined && options.dtype !== 'F32') {
    throw new GenviewError('BAD_ARGUMENT', `the ONNX export stores float32 weights; --dtype ${options.dtype} applies to safetensors only.`, {
      where: 'genview export --dtype',
      fix: 'drop --dtype for --format onnx, or export --format safetensors.',
    });
  }
  const config = readRunConfig(runDir);
  const registry = options.registry ?? createRegistry();
  const events = options.events ?? new EventBus();
  await selectBackend({ events });
  const ref = withoutInitialWeights(registry, config.framework as PluginRef);
  const shape = (typeof ref === 'object' ? (ref as { inputShape?: [number, number, number] }).inputShape : undefined) ?? undefined;
  const framework = await registry.create('framework', shape ? withInputShape(registry, ref, shape) : ref, {
    rng: new Rng(config.seed),
    events,
    path: 'framework',
  });
  try {
    if (isStagedFramework(framework)) {
      throw new GenviewError('INVALID_CONFIG', `${runDir} is a multi-stage ${framework.name} run: its encoder integrates ${framework.stages.count} stages' backbones, not one backbone.`, {
        where: runDir,
        fix: 'export a single-stage run, or one stage: genview export --run <run>/stage-<s> after copying config.json into it.',
      });
    }
    const meta = loadModelState(runDir, namespacedVariables(framework.stateModules()));
    const backbone = framework.trainableModules().find((m) => m.name === 'backbone');
    if (!backbone) {
      throw new GenviewError('INVALID_CONFIG', `framework ${framework.name} has no trainable module named "backbone" to export.`, {
        where: runDir,
        fix: 'export a run of a framework that names its online backbone "backbone" (every built-in image framework does).',
      });
    }
    const backboneRef = (ref as { backbone?: PluginRef }).backbone;
    const backboneName = typeof backboneRef === 'string' ? backboneRef : (backboneRef?.name ?? 'unknown');
    const out = resolve(options.out ?? `${runDir}/backbone.${options.format}`);
    const metadata = { 'genview.framework': framework.name, 'genview.backbone': backboneName, 'genview.step': String(meta.step) };
    if (options.format === 'onnx') await saveBackboneOnnx(out, backbone, { metadata });
    else await saveTorchWeights(out, backbone, { stored: options.dtype, metadata });
    const tensors = backbone.variables().length;
    events.log('export', `${framework.name}'s ${backboneName} at step ${meta.step}: ${tensors} tensors to ${out}`);
    return { out, format: options.format, framework: framework.name, backbone: backboneName, step: meta.step, tensors };
  } finally {
    framework.dispose();
  }
}
