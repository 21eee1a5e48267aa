export { simclr } from './simclr';
export { mocoV2 } from './moco-v2';
export { byol } from './byol';
export { simsiam } from './simsiam';
export { type MclFramework, isMclFramework, mcl } from './mcl';
export { createDecoupledFramework, decoupled, type DecoupledParts } from './decoupled';
export { KeyQueue } from './queue';
export { backboneFeatures, buildBackbone, buildHead, copyModule, cosineMomentum, emaUpdate, forwardViews, named } from './parts';
