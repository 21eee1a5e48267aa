import { type GraphBuilder, int, ints } from './graph-builder';
import { type TorchState, has, weight } from './torch-state';

/** Every batch norm of the CNN backbones here uses PyTorch's default epsilon. */
const BATCH_NORM_EPS = 1e-5;

/**
 * conv (OIHW, no bias) followed by an eval-mode batch norm, as one Conv with the norm folded in: weights
 * scaled per output channel, the shift as bias. Our own eval forward folds the same way (nn/conv-bn), so
 * the exported graph computes what the trained network computes. Padding is floor(kernel / 2), as every
 * convolution of these backbones has.
 */
export function convBn(g: GraphBuilder, state: TorchState, x: string, conv: string, bn: string, stride: number): string {
  const w = weight(state, `${conv}.weight`);
  const [out, , kh, kw] = w.shape;
  const mean = weight(state, `${bn}.running_mean`).data;
  const variance = weight(state, `${bn}.running_var`).data;
  const gamma = has(state, `${bn}.weight`) ? weight(state, `${bn}.weight`).data : undefined;
  const beta = has(state, `${bn}.bias`) ? weight(state, `${bn}.bias`).data : undefined;
  const perChannel = w.data.length / out;
  const folded = new Float32Array(w.data.length);
  const bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = (gamma ? gamma[o] : 1) / Math.sqrt(variance[o] + BATCH_NORM_EPS);
    for (let j = 0; j < perChannel; j++) folded[o * perChannel + j] = w.data[o * perChannel + j] * scale;
    bias[o] = (beta ? beta[o] : 0) - mean[o] * scale;
  }
  const pad = Math.floor(kh / 2);
  return g.op(
    'Conv',
    [x, g.constant(`${conv}.weight`, folded, w.shape), g.constant(`${conv}.bias`, bias, [out])],
    { kernel_shape: ints([kh, kw]), strides: ints([stride, stride]), pads: ints([pad, pad, pad, pad]), dilations: ints([1, 1]), group: int(1) },
    conv,
  );
}

/** [N, C, h, w] → [N, C]: the pooled features every CNN backbone here returns. */
export function pooledFeatures(g: GraphBuilder, x: string): string {
  return g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: int(1) }, 'features_flat');
}
