/**
 * Every failure a user can cause (bad config, unknown plugin, wrong tensor shape, missing file)
 * surfaces as a GenviewError whose message says what was expected and how to fix it.
 */
export type GenviewErrorCode =
  | 'INVALID_CONFIG'
  | 'UNKNOWN_PLUGIN'
  | 'AMBIGUOUS_PLUGIN'
  | 'DUPLICATE_PLUGIN'
  | 'WRONG_PLUGIN_KIND'
  | 'BAD_SHAPE'
  | 'BAD_INPUT'
  /** An image-only encoder was given to something that reads a joint image-text space (zero-shot, retrieval). */
  | 'NO_JOINT_SPACE'
  | 'EMPTY_DATASET'
  | 'UNREADABLE_FILE'
  | 'NOT_FOUND'
  | 'BACKEND_UNAVAILABLE'
  | 'CHECKPOINT'
  /** A command-line argument the CLI does not take: an unknown or misplaced option, a missing or malformed value. */
  | 'BAD_ARGUMENT'
  | 'INTERNAL';

export interface GenviewErrorOptions {
  /** What the user can do about it; appended to the message. */
  fix?: string;
  /** The config field, file or tensor the problem is in. */
  where?: string;
  cause?: unknown;
}

/**
 * Marks every GenviewError, whichever copy of @genview/core made it. A CommonJS plugin that requires
 * core gets the CJS build while the runner uses the ESM one (and a plugin may bring a nested copy),
 * so a class identity check alone would report a plugin's own GenviewError as an unexpected crash.
 */
const BRAND = Symbol.for('@genview/core:GenviewError');

export class GenviewError extends Error {
  readonly code: GenviewErrorCode;
  readonly fix?: string;
  readonly where?: string;
  /** The problem alone, without code, place and fix: for re-raising it under another field. */
  readonly problem: string;

  constructor(code: GenviewErrorCode, problem: string, options: GenviewErrorOptions = {}) {
    const where = options.where ? `${options.where}: ` : '';
    const fix = options.fix ? ` Fix: ${options.fix}` : '';
    super(`[${code}] ${where}${problem}${fix}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GenviewError';
    this.code = code;
    this.fix = options.fix;
    this.where = options.where;
    this.problem = problem;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

// `instanceof GenviewError` holds for a GenviewError of any core copy; subclasses keep the usual check.
Object.defineProperty(GenviewError, Symbol.hasInstance, {
  value: function hasInstance(this: unknown, value: unknown): boolean {
    if (this !== GenviewError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  },
});

export function isGenviewError(error: unknown, code?: GenviewErrorCode): error is GenviewError {
  return error instanceof GenviewError && (code === undefined || error.code === code);
}
