import type { EventBus } from '@genview/core';

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export interface ProgressRendererOptions {
  stream: NodeJS.WriteStream;
  /** Force plain lines (no carriage returns), as when output goes to a file or CI log. */
  plain?: boolean;
}

/**
 * Renders the library's events: a redrawn bar with ETA on a terminal, plain lines otherwise
 * (one per logged metric), so logs stay readable in CI and files.
 */
export function renderProgress(events: EventBus, options: ProgressRendererOptions): () => void {
  const { stream } = options;
  const tty = !options.plain && stream.isTTY === true;
  const starts = new Map<string, { time: number; done: number }>();
  let lastMetrics = '';
  let barVisible = false;
  const clearBar = () => {
    if (barVisible) {
      stream.write('\r\x1b[2K');
      barVisible = false;
    }
  };
  const offs = [
    events.on('progress', ({ task, done, total, unit }) => {
      const now = performance.now();
      const start = starts.get(task) ?? { time: now, done: done - 1 };
      if (!starts.has(task)) starts.set(task, start);
      const rate = (done - start.done) / Math.max(1e-9, (now - start.time) / 1000);
      const eta = (total - done) / rate;
      if (!tty) return;
      const width = 24;
      const filled = Math.round((done / total) * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      stream.write(`\r\x1b[2K${task} ${bar} ${((100 * done) / total).toFixed(0)}% ${done}/${total} ${unit ?? ''} · ETA ${formatDuration(eta)}${lastMetrics}`);
      barVisible = true;
      if (done === total) {
        stream.write('\n');
        barVisible = false;
        starts.delete(task);
      }
    }),
    events.on('metric', ({ step, epoch, values, split }) => {
      const parts = Object.entries(values).map(([k, v]) => `${k} ${Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)}`);
      lastMetrics = ` · ${parts.join(' · ')}`;
      if (!tty || split) {
        clearBar();
        stream.write(`${split ? `[${split}] ` : ''}step ${step}${epoch === undefined ? '' : ` (epoch ${epoch.toFixed(2)})`}: ${parts.join(', ')}\n`);
      }
    }),
    events.on('log', ({ level, source, message }) => {
      if (level === 'debug') return;
      clearBar();
      stream.write(`${level === 'warn' ? 'warning: ' : ''}[${source}] ${message}\n`);
    }),
    events.on('eval', ({ evaluator, values, description }) => {
      clearBar();
      const parts = Object.entries(values).map(([k, v]) => `${k}=${(100 * v).toFixed(2)}%`);
      stream.write(`[eval] ${evaluator}: ${parts.join(' ')} (${description})\n`);
    }),
    events.on('checkpoint', ({ step, path }) => {
      if (!tty) stream.write(`[checkpoint] step ${step} → ${path}\n`);
    }),
  ];
  return () => {
    clearBar();
    for (const off of offs) off();
  };
}
