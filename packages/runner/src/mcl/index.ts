export { accumulatePseudoLabels, denseRanks, jointPseudoLabels, negativeMaskFromLabels } from './pseudo-labels';
export { PseudoLabelBatchOrder } from './sampler';
export { integratedEncoder } from './integrate';
export { type MultistageClustering, type MultistageOptions, type MultistageResult, type MultistageStage, runMultistage } from './multistage';
