/**
 * Ctrl-C for long library work (`genview train`): the first SIGINT or SIGTERM aborts the signal the
 * work watches, so it can finish what it is doing and save; a second one exits at once with the
 * conventional 128 + signal number. Like the queue worker's untilSignal, it stops listening when done.
 */
export interface SignalStop {
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  received(): NodeJS.Signals | undefined;
  dispose(): void;
}

const EXIT_CODE: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

export function exitCodeFor(signal: NodeJS.Signals | undefined): number {
  return (signal && EXIT_CODE[signal]) ?? 130;
}

export function stopOnSignal(onFirst: (signal: NodeJS.Signals) => void): SignalStop {
  const controller = new AbortController();
  let first: NodeJS.Signals | undefined;
  const on = (signal: NodeJS.Signals) => {
    if (first) process.exit(exitCodeFor(signal));
    first = signal;
    onFirst(signal);
    controller.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: controller.signal,
    received: () => first,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
