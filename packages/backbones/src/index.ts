import { mlpPredictorPlugin } from './plugins/mlp-predictor';
import { mlpProjectorPlugin } from './plugins/mlp-projector';
import { resnet18Plugin } from './plugins/resnet-18';
import { resnet34Plugin } from './plugins/resnet-34';
import { resnet50Plugin } from './plugins/resnet-50';
import { smallCnnPlugin } from './plugins/small-cnn';
import { textTransformerPlugin } from './plugins/text-transformer';
import { vitSmallPlugin } from './plugins/vit-small';
import { vitTinyPlugin } from './plugins/vit-tiny';

export { createSmallCnn, type SmallCnn, type SmallCnnOptions } from './models/small-cnn';
export { createResNet, type ResNet, type ResNetDepth, type ResNetOptions, type ResNetStem } from './models/resnet';
export { createVit, VIT_VARIANTS, type Vit, type VitOptions, type VitVariant } from './models/vit';
export { createMlpHead, type MlpHeadOptions } from './models/mlp-head';
export { createTextTransformer, type TextTransformer, type TextTransformerOptions } from './models/text-transformer';
export { asFeatureExtractor } from './feature-extractor';
export {
  DEFAULT_IGNORED_TORCH_KEYS,
  fromTorchStateDict,
  loadTorchWeights,
  saveTorchWeights,
  setTorchWeights,
  toTorchStateDict,
  type TorchWeightsOptions,
  type TorchWeightsReport,
} from './torch-weights';
export {
  ONNX_INPUT,
  ONNX_OPSET,
  ONNX_OUTPUT,
  backboneToOnnx,
  saveBackboneOnnx,
  type BackboneOnnx,
  type OnnxArchitecture,
} from './onnx/backbone-onnx';
export { getWeights, loadWeights, namedVariables, saveWeights, setWeights, type ModuleSet, type SetWeightsOptions } from './weights';
/** The module toolkit (conv, batch norm, linear, layer norm, attention, init) for writing custom backbones. */
export * as nn from './nn/index';
export {
  mlpPredictorPlugin,
  mlpProjectorPlugin,
  resnet18Plugin,
  resnet34Plugin,
  resnet50Plugin,
  smallCnnPlugin,
  textTransformerPlugin,
  vitSmallPlugin,
  vitTinyPlugin,
};

/** Every plugin of this package, for `registry.register(plugins)`. */
export const plugins = [
  smallCnnPlugin,
  resnet18Plugin,
  resnet34Plugin,
  resnet50Plugin,
  vitTinyPlugin,
  vitSmallPlugin,
  textTransformerPlugin,
  mlpProjectorPlugin,
  mlpPredictorPlugin,
] as const;
