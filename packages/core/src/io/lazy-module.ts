/**
 * A loader for an optional or heavy module (sharp, onnxruntime...) that is imported on first use, so
 * a package whose code never needs it neither pays for it at start-up nor fails to start without it.
 * The import itself stays in the caller (`() => import('sharp')`), so each package resolves the module
 * from its own dependencies and bundlers keep it external. A CommonJS module seen through `import()`
 * without a default export is returned as is. A failed load is not remembered: the next call tries
 * again (after the user installs the module), and `failure` turns the raw error into the caller's own
 * GenviewError naming what to install.
 */
export function lazyModule<T>(load: () => Promise<unknown>): (failure: (error: unknown) => Error) => Promise<T> {
  let pending: Promise<T> | undefined;
  return (failure) => {
    pending ??= load().then(
      (mod) => ((mod as { default?: T }).default ?? mod) as T,
      (error: unknown) => {
        pending = undefined;
        throw failure(error);
      },
    );
    return pending;
  };
}
