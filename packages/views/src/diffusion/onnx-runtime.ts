import { existsSync } from 'node:fs';
import { GenviewError } from '@genview/core';
import type * as Ort from 'onnxruntime-node';

export type OrtModule = typeof Ort;
export type OrtSession = Ort.InferenceSession;
export type OrtTensor = Ort.Tensor;
export type ExecutionProvider = 'cpu' | 'cuda';

let cached: Promise<OrtModule> | undefined;

/**
 * onnxruntime-node is an optional peer: users who only need augmentations should not pull a 100 MB
 * native runtime, so it is imported on first use and its absence is reported with the install command.
 */
export function loadOnnxRuntime(): Promise<OrtModule> {
  cached ??= import(/* @vite-ignore */ 'onnxruntime-node').then(
    (mod) => ((mod as { default?: OrtModule }).default ?? mod) as OrtModule,
    (error: unknown) => {
      cached = undefined;
      throw new GenviewError('BACKEND_UNAVAILABLE', `onnxruntime-node could not be loaded (${error instanceof Error ? error.message : String(error)}).`, {
        fix: 'install it beside @genview/views: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@^1.30 (the variable stops its installer from downloading the CUDA add-on).',
        cause: error,
      });
    },
  );
  return cached;
}

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** Threads inside one operator; 0 lets onnxruntime choose (all cores). */
  threads?: number;
}

export async function openSession(path: string, part: string, options: SessionOptions = {}): Promise<OrtSession> {
  if (!existsSync(path)) {
    throw new GenviewError('NOT_FOUND', `the pipeline has no ${part} model at ${path}.`, {
      where: part,
      fix: `export the ${part} part to ${path} (the README's recipe "Exporting a real Stable unCLIP"), or point the generator at a complete pipeline folder.`,
    });
  }
  const ort = await loadOnnxRuntime();
  const providers = options.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: providers,
      intraOpNumThreads: options.threads ?? 0,
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', `onnxruntime could not load the ${part} model ${path}: ${error instanceof Error ? error.message : String(error)}.`, {
      where: part,
      fix: options.executionProvider === 'cuda' ? 'check the CUDA add-on of onnxruntime-node is installed, or use executionProvider: cpu.' : 'check the file is a complete ONNX model (large models need their model.onnx_data beside them).',
      cause: error,
    });
  }
}

export interface InputSpec {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

export function inputSpecs(session: OrtSession): InputSpec[] {
  return session.inputMetadata.map((meta) =>
    meta.isTensor ? { name: meta.name, type: meta.type, shape: meta.shape } : { name: meta.name, type: 'non-tensor', shape: [] },
  );
}

/** The named input, or a clear error listing what the part declares instead. */
export function requireInput(session: OrtSession, part: string, name: string, rank: number, types: readonly string[]): InputSpec {
  const specs = inputSpecs(session);
  const spec = specs.find((s) => s.name === name);
  const declared = specs.map((s) => `${s.name}: ${s.type}[${s.shape.join(', ')}]`).join('; ');
  if (spec === undefined) {
    throw new GenviewError('BAD_INPUT', `the ${part} model has no input "${name}" (it declares ${declared}).`, {
      where: part,
      fix: `export ${part} with an input named "${name}" of rank ${rank}, as the standard diffusers ONNX export does.`,
    });
  }
  if (!types.includes(spec.type) || (spec.shape.length !== 0 && spec.shape.length !== rank)) {
    throw new GenviewError('BAD_SHAPE', `the ${part} input "${name}" is ${spec.type}[${spec.shape.join(', ')}]; expected ${types.join(' or ')} of rank ${rank}.`, {
      where: `${part}.${name}`,
      fix: `re-export ${part} with the standard input signature.`,
    });
  }
  return spec;
}

export function hasInput(session: OrtSession, name: string): boolean {
  return session.inputNames.includes(name);
}

/** A fixed dimension of an input, or undefined when the export left it symbolic. */
export function staticDim(spec: InputSpec, axis: number): number | undefined {
  const dim = spec.shape[axis];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

/** Runs a part and returns its output named `preferred` when it has one, else its first output. */
export async function runOne(session: OrtSession, feeds: Record<string, OrtTensor>, part: string, preferred?: string): Promise<OrtTensor> {
  try {
    const out = await session.run(feeds);
    const name = preferred !== undefined && session.outputNames.includes(preferred) ? preferred : session.outputNames[0];
    const tensor = name === undefined ? undefined : out[name];
    if (tensor === undefined) throw new Error('no output');
    return tensor as OrtTensor;
  } catch (error) {
    if (error instanceof GenviewError) throw error;
    const shapes = Object.entries(feeds)
      .map(([k, t]) => `${k}: ${t.type}[${t.dims.join(', ')}]`)
      .join('; ');
    throw new GenviewError('BAD_SHAPE', `running the ${part} model failed with inputs ${shapes}: ${error instanceof Error ? error.message : String(error)}.`, {
      where: part,
      fix: `check that ${part} was exported for these input shapes and types.`,
      cause: error,
    });
  }
}
