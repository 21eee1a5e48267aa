export { type MclCarry, type MclFramework, type MclNegatives, type PseudoLabelFile, PSEUDO_LABEL_FILE, isMclFramework, mcl } from './framework';
export { accumulatePseudoLabels, denseRanks, jointPseudoLabels, negativeMaskFromLabels } from './pseudo-labels';
export { GroupedBatchOrder, PseudoLabelBatchOrder } from './sampler';
export { checkIntegrationWeights, integrateStageFeatures, integratedEncoder } from './integrate';
export { MCL_CLUSTERING_DEFAULTS, mclStageSteps } from './settings';
// runMultistage and loadMultistage (./multistage) build on the runner's registry and stage host, so the
// package entry exports them directly: frameworks/ stays free of an import cycle with registry.ts.
