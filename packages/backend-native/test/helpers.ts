import { type Rng, tf } from '@genview/core';
import { registerNativeBackend } from '../src/index';
import { isNativeAvailable } from '../src/register';

export { tf };

/** Whether the addon is built here; the suites skip (with this reason) when it is not. */
export const nativeBuilt = isNativeAvailable();
export const SKIP_REASON =
  'addon not built: run `npm run build:native` in packages/backend-native (needs g++, python3, libopenblas-dev)';

export const NATIVE = 'genview-native';

export async function useNative(): Promise<void> {
  await registerNativeBackend();
  await tf.setBackend(NATIVE);
}

export function randomArray(rng: Rng, shape: readonly number[], low = -1, high = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(low, high);
  return out;
}

/**
 * Runs `build` on the reference 'cpu' backend and on 'genview-native' from the same input arrays and
 * returns both results as arrays (tensors are built inside `build`, so each lives on its backend).
 */
export async function onBoth(build: () => tf.Tensor | tf.Tensor[]): Promise<{ ref: Float32Array[]; got: Float32Array[] }> {
  const run = async (backend: string): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => {
      const r = build();
      return Array.isArray(r) ? r : [r];
    });
    const data = await Promise.all(out.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(out);
    return data;
  };
  const ref = await run('cpu');
  const got = await run(NATIVE);
  return { ref, got };
}

/** Largest |got - ref| relative to the reference's scale (max(1, max |ref|)). */
export function relError(got: Float32Array, ref: Float32Array): number {
  if (got.length !== ref.length) return Number.POSITIVE_INFINITY;
  let scale = 1;
  for (const v of ref) if (!Number.isNaN(v)) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Number.isNaN(ref[i]) && Number.isNaN(got[i]) ? 0 : Math.abs(got[i] - ref[i]);
    err = Math.max(err, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
  }
  return err / scale;
}

