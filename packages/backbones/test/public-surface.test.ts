import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { publicNames } from '../../../tools/vitest/public-surface';

// The published API of this package, pinned. A failure here means an export was added or removed: if
// that is deliberate, document the name in the README, update this list and add a changeset; if not,
// import the internal from its module path instead of exporting it.

/** @genview/backbones, sorted. */
const ROOT = [
  'BackboneOnnx',
  'DEFAULT_IGNORED_TORCH_KEYS',
  'MlpHeadOptions',
  'ModuleSet',
  'ONNX_INPUT',
  'ONNX_OPSET',
  'ONNX_OUTPUT',
  'OnnxArchitecture',
  'ResNet',
  'ResNetDepth',
  'ResNetOptions',
  'ResNetStem',
  'SetWeightsOptions',
  'SmallCnn',
  'SmallCnnOptions',
  'TextTransformer',
  'TextTransformerOptions',
  'TorchWeightsOptions',
  'TorchWeightsReport',
  'VIT_VARIANTS',
  'Vit',
  'VitOptions',
  'VitVariant',
  'asFeatureExtractor',
  'backboneToOnnx',
  'createMlpHead',
  'createResNet',
  'createSmallCnn',
  'createTextTransformer',
  'createVit',
  'fromTorchStateDict',
  'getWeights',
  'loadTorchWeights',
  'loadWeights',
  'mlpPredictorPlugin',
  'mlpProjectorPlugin',
  'namedVariables',
  'nn',
  'plugins',
  'resnet18Plugin',
  'resnet34Plugin',
  'resnet50Plugin',
  'saveBackboneOnnx',
  'saveTorchWeights',
  'saveWeights',
  'setTorchWeights',
  'setWeights',
  'smallCnnPlugin',
  'textTransformerPlugin',
  'toTorchStateDict',
  'vitSmallPlugin',
  'vitTinyPlugin',
];

describe('public surface', () => {
  it('@genview/backbones exports exactly the pinned names', async () => {
    const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    expect(publicNames(entry)).toEqual(ROOT);
    // Every value the module really exports is a pinned name (types vanish at run time).
    const runtime = Object.keys(await import('../src/index'));
    expect(runtime.filter((name) => !ROOT.includes(name))).toEqual([]);
  });
});
