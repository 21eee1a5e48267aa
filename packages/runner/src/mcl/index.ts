export { accumulatePseudoLabels, denseRanks, jointPseudoLabels, negativeMaskFromLabels } from './pseudo-labels';
export { PseudoLabelBatchOrder } from './sampler';
export { integratedEncoder } from './integrate';
export {
  type LoadedMultistage,
  type MultistageClustering,
  type MultistageOptions,
  type MultistageResult,
  type MultistageStage,
  PSEUDO_LABEL_FILE,
  type PseudoLabelFile,
  loadMultistage,
  mclFrameworkRef,
  runMultistage,
  stageDir,
} from './multistage';
