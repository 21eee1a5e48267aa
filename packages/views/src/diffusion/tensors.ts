import { type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { fromFloat16, toFloat16 } from './float16';
import type { OrtModule, OrtTensor } from './onnx-runtime';

/** A float input in the element type the part declares (fp32 or fp16 exports). */
export function floatTensor(ort: OrtModule, type: string, data: Float32Array, dims: readonly number[]): OrtTensor {
  return type === 'float16' ? new ort.Tensor('float16', toFloat16(data), dims) : new ort.Tensor('float32', data, dims);
}

export function readFloats(tensor: OrtTensor): Float32Array {
  if (tensor.type === 'float16') return fromFloat16(tensor.data as Uint16Array);
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  return Float32Array.from(tensor.data as ArrayLike<number>);
}

export function integerTensor(ort: OrtModule, type: string, values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(values, (v) => Math.round(v)), dims);
  return floatTensor(ort, type, Float32Array.from(values), dims);
}

/**
 * An [H, W, C] image in [0, 1] as one NCHW row for a part that takes `channels` channels of `size`
 * pixels: resized (bilinear, after a centre crop to a square as CLIP's processor does), grey and
 * colour adapted, then normalised per channel.
 */
export function toChannelsFirst(image: Tensor3D, size: number, channels: number, mean: readonly number[], std: readonly number[]): Float32Array {
  const batch = tf.expandDims(image, 0) as Tensor4D;
  try {
    return batchToChannelsFirst(batch, size, channels, mean, std);
  } finally {
    batch.dispose();
  }
}

/** toChannelsFirst for a whole [N, H, W, C] batch: N rows of channels·size·size values, back to back. */
export function batchToChannelsFirst(images: Tensor4D, size: number, channels: number, mean: readonly number[], std: readonly number[]): Float32Array {
  const nchw = tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const side = Math.min(h, w);
    let x: Tensor4D = images;
    if (h !== w) x = tf.slice(images, [0, Math.floor((h - side) / 2), Math.floor((w - side) / 2), 0], [n, side, side, c]) as Tensor4D;
    if (side !== size) x = tf.image.resizeBilinear(x, [size, size], false, true);
    if (c !== channels) x = adaptChannels(x, channels);
    const m = tf.tensor1d(channels === mean.length ? [...mean] : new Array<number>(channels).fill(mean[0] ?? 0));
    const s = tf.tensor1d(channels === std.length ? [...std] : new Array<number>(channels).fill(std[0] ?? 1));
    return tf.transpose(tf.div(tf.sub(x, m), s), [0, 3, 1, 2]) as Tensor4D;
  });
  const data = nchw.dataSync() as Float32Array;
  nchw.dispose();
  return data;
}

/** Rows laid back to back in one buffer (the batch a part's input takes). */
export function concatRows(rows: readonly Float32Array[]): Float32Array {
  const size = rows.reduce((s, r) => s + r.length, 0);
  const out = new Float32Array(size);
  let at = 0;
  for (const r of rows) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/** One NCHW row in [-1, 1] back to an [H, W, C] image in [0, 1] of the wanted size and channels. */
export function fromChannelsFirst(row: Float32Array, channels: number, height: number, width: number, target?: readonly number[]): Tensor3D {
  return tf.tidy(() => {
    let x = tf.transpose(tf.tensor3d(row, [channels, height, width]), [1, 2, 0]) as Tensor3D;
    x = tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as Tensor3D;
    if (target === undefined) return x;
    const [th, tw, tc] = target as [number, number, number];
    if (th !== height || tw !== width) x = tf.clipByValue(tf.image.resizeBilinear(x, [th, tw], false, true), 0, 1) as Tensor3D;
    if (tc !== channels) x = adaptChannels(x, tc);
    return x;
  });
}

/** Grey to colour by repetition, colour to grey by the channel mean (the encoders here take either). */
function adaptChannels<T extends Tensor3D | Tensor4D>(x: T, channels: number): T {
  const last = x.rank - 1;
  const grey = x.shape[last] === 1 ? x : (tf.mean(x, -1, true) as T);
  if (channels === 1) return grey;
  const reps = new Array<number>(x.rank).fill(1);
  reps[last] = channels;
  return tf.tile(grey, reps) as T;
}
