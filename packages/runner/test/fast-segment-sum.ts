import { EventBus, selectBackend, tf } from '@genview/core';

/**
 * TEST-ONLY STUB. The cpu backend's UnsortedSegmentSum (which the genview-native backend inherits)
 * loops over segments with whole-tensor ops: O(segments × rows × width). tf.gather's gradient is an
 * UnsortedSegmentSum, so the text transformer's token-embedding and end-of-text pooling gathers cost
 * ~15 s per backward pass at batch 128 × 12 tokens. Until @genview/backend-native registers a linear
 * kernel (or the text tower avoids gather gradients), the tests swap in this scatter-add.
 */
interface CpuLikeBackend {
  readSync(dataId: unknown): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): tf.TensorInfo;
}

const kernelFunc: tf.KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as CpuLikeBackend;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const values = backend.readSync(x.dataId) as Float32Array | Int32Array;
  const ids = backend.readSync(segmentIds.dataId) as Int32Array;
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r] as number;
    if (id < 0 || id >= numSegments) continue;
    const from = r * inner;
    const to = id * inner;
    for (let j = 0; j < inner; j++) out[to + j] += values[from + j] as number;
  }
  return backend.makeTensorInfo([numSegments, ...innerShape], x.dtype, out);
};

/** Selects the backend as a run would, then replaces its UnsortedSegmentSum (cpu-family backends only). */
export async function useLinearSegmentSum(): Promise<void> {
  await selectBackend({ events: new EventBus() });
  const backendName = tf.getBackend();
  if (backendName !== 'cpu' && backendName !== 'genview-native') return;
  tf.unregisterKernel('UnsortedSegmentSum', backendName);
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName, kernelFunc });
}
