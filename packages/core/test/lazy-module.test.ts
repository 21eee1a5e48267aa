import { describe, expect, it } from 'vitest';
import { GenviewError, lazyModule } from '../src/index';

const asGenviewError = (error: unknown) => new GenviewError('BACKEND_UNAVAILABLE', `could not load: ${(error as Error).message}`, { fix: 'install it.' });

describe('lazyModule', () => {
  it('imports once on first use, however many callers ask at once', async () => {
    let imports = 0;
    const load = lazyModule<{ value: number }>(async () => {
      imports++;
      return { default: { value: 7 } };
    });
    expect(imports).toBe(0);
    const [a, b] = await Promise.all([load(asGenviewError), load(asGenviewError)]);
    expect(a.value).toBe(7);
    expect(b).toBe(a);
    await load(asGenviewError);
    expect(imports).toBe(1);
  });

  it('returns a module without a default export as it is (CommonJS through import())', async () => {
    const cjs = { resize: () => 'resized' };
    const load = lazyModule<typeof cjs>(async () => cjs);
    expect(await load(asGenviewError)).toBe(cjs);
  });

  it('turns a failed import into the caller’s error, and tries again on the next call', async () => {
    let attempts = 0;
    const load = lazyModule<{ ok: true }>(async () => {
      attempts++;
      if (attempts === 1) throw new Error("Cannot find module 'sharp'");
      return { default: { ok: true } };
    });
    const error = await load(asGenviewError).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).message).toMatch(/could not load: Cannot find module 'sharp'/);
    expect(await load(asGenviewError)).toEqual({ ok: true });
    expect(attempts).toBe(2);
  });
});
