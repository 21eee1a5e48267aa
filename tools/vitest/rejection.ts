import { GenviewError } from '@genview/core';
import { expect } from 'vitest';

/** The GenviewError a promise rejects with; the test fails if it rejects with anything else, or resolves. */
export async function rejection(promise: Promise<unknown>): Promise<GenviewError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected a GenviewError');
}
