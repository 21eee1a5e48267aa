import { type Rng, tf } from '@genview/core';
import { expect } from 'vitest';
import { registerNativeBackend } from '../src/index';
import { isNativeAvailable } from '../src/register';

export { tf };

/** Whether the addon is built here; the suites skip (with this reason) when it is not. */
export const nativeBuilt = isNativeAvailable();
export const SKIP_REASON = 'addon not built: run `npm run build:native -w @genview/backend-native` (needs g++, make, python3)';

// CI builds the addon before testing, so there a missing addon is a failure, not a reason to skip.
if (!nativeBuilt && process.env.GENVIEW_REQUIRE_NATIVE === '1') {
  throw new Error(`GENVIEW_REQUIRE_NATIVE=1 but the native addon is not loadable: ${SKIP_REASON}`);
}

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


/** One input of a finite-difference check: its values, the analytic gradient, and the loss as a function of it. */
export interface GradientCase {
  name: string;
  values: Float32Array;
  grad: ArrayLike<number>;
  loss: (perturbed: Float32Array) => number;
}

/**
 * Compares each case's analytic gradient with central differences at `probes` random entries, to 2 %
 * of max(1, |numeric|). The losses should sum in float64 on the JS side so the quotient is not float32 noise.
 */
export function expectFiniteDifferences(rng: Rng, cases: GradientCase[], eps = 1e-2, probes = 8): void {
  for (const { name, values, grad, loss } of cases) {
    for (let t = 0; t < probes; t++) {
      const i = rng.int(values.length);
      const plus = Float32Array.from(values);
      const minus = Float32Array.from(values);
      plus[i] += eps;
      minus[i] -= eps;
      const numeric = (loss(plus) - loss(minus)) / (2 * eps);
      const analytic = grad[i] as number;
      expect(Math.abs(numeric - analytic), `${name}[${i}] numeric ${numeric} analytic ${analytic}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
    }
  }
}
