import * as tf from '@tensorflow/tfjs-core';
import { GenviewError } from '../errors';
import type { EventBus } from '../events';
import { loadWebGpuRung } from './webgpu-rung';

/** One way of running TensorFlow.js, tried in order until one loads. */
export interface BackendRung {
  /** Name used by GENVIEW_BACKEND and in reports. */
  name: string;
  /** The tfjs backend name it registers. */
  backendName: string;
  /** Loads and registers the backend; throws with a reason when it cannot. */
  load(): Promise<void>;
}

export interface BackendAttempt {
  name: string;
  ok: boolean;
  reason: string;
}

export interface BackendReport {
  chosen: string;
  backendName: string;
  tried: BackendAttempt[];
}

/**
 * Imports an optional module. The specifier is a variable so bundlers leave it alone: a missing
 * package is then a caught error at run time, not a build failure.
 */
async function importOptional(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const firstLine = text.split('\n')[0] ?? text;
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND|Could not resolve/.test(text)) return 'not installed';
  return firstLine.length > 200 ? `${firstLine.slice(0, 200)}…` : firstLine;
}

async function activate(backendName: string): Promise<void> {
  const ok = await tf.setBackend(backendName);
  if (!ok) throw new Error(`tf.setBackend('${backendName}') returned false`);
  await tf.ready();
}

/**
 * The rungs in order of preference: GPU (CUDA TensorFlow, then WebGPU through Dawn), native TensorFlow,
 * our native CPU kernels, wasm, plain JS. The WebGPU rung needs the optional packages `webgpu` and
 * `@tensorflow/tfjs-backend-webgpu`, and is taken only when a training step's gradients match the cpu
 * backend's.
 */
export function defaultRungs(): BackendRung[] {
  return [
    {
      name: 'tfjs-node-gpu',
      backendName: 'tensorflow',
      async load() {
        await importOptional('@tensorflow/tfjs-node-gpu');
        await activate('tensorflow');
      },
    },
    {
      name: 'webgpu',
      backendName: 'webgpu',
      load: () => loadWebGpuRung(importOptional),
    },
    {
      name: 'tfjs-node',
      backendName: 'tensorflow',
      async load() {
        await importOptional('@tensorflow/tfjs-node');
        await activate('tensorflow');
      },
    },
    {
      name: 'native',
      backendName: 'genview-native',
      async load() {
        const mod = (await importOptional('@genview/backend-native')) as { registerNativeBackend?: () => Promise<void> | void };
        if (typeof mod.registerNativeBackend !== 'function') throw new Error('@genview/backend-native has no registerNativeBackend()');
        await mod.registerNativeBackend();
        await activate('genview-native');
      },
    },
    {
      name: 'wasm',
      backendName: 'wasm',
      async load() {
        await import('@tensorflow/tfjs-backend-wasm');
        const { registerWasmTrainingKernels } = await import('./wasm-training-kernels');
        registerWasmTrainingKernels();
        await activate('wasm');
      },
    },
    {
      name: 'cpu',
      backendName: 'cpu',
      async load() {
        await import('@tensorflow/tfjs-backend-cpu');
        await activate('cpu');
        // The cpu backend prints a "use tfjs-node" banner on first use; the ladder already reports
        // why a faster rung was not taken, and libraries do not print.
        (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      },
    },
  ];
}

export interface SelectBackendOptions {
  /** Force one rung by name; defaults to the GENVIEW_BACKEND environment variable. */
  force?: string;
  rungs?: BackendRung[];
  events?: EventBus;
}

let current: BackendReport | null = null;

/**
 * Walks the ladder and activates the first rung that loads. Each rung's failure reason is kept so the
 * CLI can say why, e.g. "tfjs-node: not installed". A forced rung that fails is an error, not a fallback.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendReport> {
  const rungs = options.rungs ?? defaultRungs();
  const force = options.force ?? process.env.GENVIEW_BACKEND ?? '';
  const tried: BackendAttempt[] = [];
  const candidates = force ? rungs.filter((r) => r.name === force || r.backendName === force) : rungs;
  if (force && candidates.length === 0) {
    throw new GenviewError('BACKEND_UNAVAILABLE', `GENVIEW_BACKEND=${force} names no backend.`, {
      fix: `use one of: ${rungs.map((r) => r.name).join(', ')}.`,
    });
  }
  for (const rung of candidates) {
    try {
      await rung.load();
      tried.push({ name: rung.name, ok: true, reason: force ? 'forced by GENVIEW_BACKEND' : 'first rung that loaded' });
      current = { chosen: rung.name, backendName: rung.backendName, tried };
      options.events?.emit('backend', { chosen: rung.name, tried });
      return current;
    } catch (error) {
      tried.push({ name: rung.name, ok: false, reason: reasonOf(error) });
    }
  }
  const summary = tried.map((t) => `${t.name}: ${t.reason}`).join('; ');
  throw new GenviewError('BACKEND_UNAVAILABLE', `no TensorFlow.js backend could be loaded (${summary}).`, {
    fix: force ? `unset GENVIEW_BACKEND or install what ${force} needs.` : 'reinstall @genview/core and its dependencies.',
  });
}

/** The backend chosen by the last selectBackend() call, or null before any. */
export function currentBackend(): BackendReport | null {
  return current;
}

/** Formats a report the way the CLI prints it. */
export function describeBackend(report: BackendReport): string {
  const lines = report.tried.map((t) => `  ${t.ok ? '✓' : '✗'} ${t.name}: ${t.reason}`);
  return `backend: ${report.chosen}\n${lines.join('\n')}`;
}
