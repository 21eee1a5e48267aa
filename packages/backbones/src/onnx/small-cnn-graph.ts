import { convBn, pooledFeatures } from './cnn-parts';
import type { GraphBuilder } from './graph-builder';
import { type TorchState, has } from './torch-state';

/** models/small-cnn in eval mode: conv-BN-ReLU blocks, the first at stride 1 and the rest at stride 2, global average pooling. */
export function smallCnnGraph(g: GraphBuilder, state: TorchState, pixels: string): string {
  let h = pixels;
  for (let i = 0; has(state, `blocks.${i}.conv.weight`); i++) {
    h = g.op('Relu', [convBn(g, state, h, `blocks.${i}.conv`, `blocks.${i}.bn`, i === 0 ? 1 : 2)], {}, `blocks.${i}`);
  }
  return pooledFeatures(g, h);
}
