import { convBn, pooledFeatures } from './cnn-parts';
import { type GraphBuilder, ints } from './graph-builder';
import { type TorchState, has, weight } from './torch-state';

/** Block indices per stage ("layer1.0", "layer1.1", ...), read from the weights. */
function stageBlocks(state: TorchState): string[][] {
  const stages: string[][] = [];
  for (let s = 1; has(state, `layer${s}.0.conv1.weight`); s++) {
    const blocks: string[] = [];
    for (let b = 0; has(state, `layer${s}.${b}.conv1.weight`); b++) blocks.push(`layer${s}.${b}`);
    stages.push(blocks);
  }
  return stages;
}

/**
 * A torchvision-named ResNet (models/resnet) in eval mode: the stem (7x7/2 conv + 3x3/2 max-pool when conv1
 * is 7x7, the CIFAR 3x3/1 conv otherwise), basic or bottleneck blocks with the stride on the first block
 * of stages 2-4 (on the 3x3 conv: ResNet v1.5), global average pooling. Returns the [N, C] features.
 */
export function resnetGraph(g: GraphBuilder, state: TorchState, pixels: string): string {
  const imagenetStem = weight(state, 'conv1.weight').shape[2] === 7;
  let h = g.op('Relu', [convBn(g, state, pixels, 'conv1', 'bn1', imagenetStem ? 2 : 1)], {}, 'stem');
  if (imagenetStem) h = g.op('MaxPool', [h], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) });
  const bottleneck = has(state, 'layer1.0.conv3.weight');
  stageBlocks(state).forEach((blocks, stage) => {
    blocks.forEach((block, i) => {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const shortcut = has(state, `${block}.downsample.0.weight`)
        ? convBn(g, state, h, `${block}.downsample.0`, `${block}.downsample.1`, stride)
        : h;
      let r: string;
      if (bottleneck) {
        r = g.op('Relu', [convBn(g, state, h, `${block}.conv1`, `${block}.bn1`, 1)]);
        r = g.op('Relu', [convBn(g, state, r, `${block}.conv2`, `${block}.bn2`, stride)]);
        r = convBn(g, state, r, `${block}.conv3`, `${block}.bn3`, 1);
      } else {
        r = g.op('Relu', [convBn(g, state, h, `${block}.conv1`, `${block}.bn1`, stride)]);
        r = convBn(g, state, r, `${block}.conv2`, `${block}.bn2`, 1);
      }
      h = g.op('Relu', [g.op('Add', [r, shortcut])], {}, `${block}.out`);
    });
  });
  return pooledFeatures(g, h);
}
