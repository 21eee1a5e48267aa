export { type PriorFeatures, tablePrior } from './features';
export { attributeTablePrior, labelAttributePrior, type LabelAttributeOptions } from './attributes';
export { encoderPrior, type EncoderPriorOptions } from './encoder';
export { filePrior, type FilePriorOptions } from './file';
export { buildPriorFeatures, priorSourceSchema, type PriorSourceConfig } from './source';
