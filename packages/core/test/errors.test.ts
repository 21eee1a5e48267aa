import { GenviewError, isGenviewError } from '@genview/core';
import { describe, expect, it, vi } from 'vitest';

/** A second, separately evaluated copy of the errors module: what a CJS plugin or a nested core install holds. */
async function otherCopy(): Promise<typeof import('../src/errors')> {
  vi.resetModules();
  const copy = await import('../src/errors');
  expect(copy.GenviewError).not.toBe(GenviewError);
  return copy;
}

describe('GenviewError across copies of @genview/core', () => {
  it('is recognised by instanceof and isGenviewError whichever copy made it', async () => {
    const { GenviewError: Foreign, isGenviewError: foreignIs } = await otherCopy();
    const foreign = new Foreign('NOT_FOUND', 'no such file.', { where: 'data.dir', fix: 'check the path.' });
    expect(foreign instanceof GenviewError).toBe(true);
    expect(isGenviewError(foreign, 'NOT_FOUND')).toBe(true);
    expect(isGenviewError(foreign, 'BAD_INPUT')).toBe(false);
    expect(foreignIs(new GenviewError('BAD_INPUT', 'x'))).toBe(true);
    expect(foreign.message).toBe('[NOT_FOUND] data.dir: no such file. Fix: check the path.');
  });

  it('is not claimed by plain errors, look-alikes or subclasses of other errors', () => {
    expect(new Error('x') instanceof GenviewError).toBe(false);
    expect(isGenviewError({ name: 'GenviewError', code: 'NOT_FOUND', message: 'x' })).toBe(false);
    expect(isGenviewError(null)).toBe(false);
    expect(isGenviewError('[NOT_FOUND] x')).toBe(false);
    // A subclass keeps the ordinary prototype check: a GenviewError is not an instance of it.
    class Special extends GenviewError {}
    expect(new Special('INTERNAL', 'x') instanceof Special).toBe(true);
    expect(new Special('INTERNAL', 'x') instanceof GenviewError).toBe(true);
    expect(new GenviewError('INTERNAL', 'x') instanceof Special).toBe(false);
  });
});
