import { GenviewError } from '@genview/core';

/** The GenviewError an async call throws (a test fails if it throws anything else, or nothing). */
export async function caught(f: () => unknown): Promise<GenviewError> {
  try {
    await f();
  } catch (error) {
    if (error instanceof GenviewError) return error;
    throw error;
  }
  throw new Error('expected a GenviewError');
}
