export { type PriorFeatures, tablePrior } from './features';
export { attributeTablePrior, labelAttributePrior, type LabelAttributeOptions } from './attributes';
export { encoderPrior, type EncoderPriorOptions } from './encoder';
export { filePrior, type FilePriorOptions } from './file';
export { type GenerativePriorOptions, generativeFeatures, generativePrior } from './generative';
export { type MedianDistanceOptions, medianPairwiseDistance } from './bandwidth';
export { buildPriorFeatures, priorSourceSchema, type PriorSourceConfig } from './source';
