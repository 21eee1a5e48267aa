import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { GenviewError } from '@genview/core';
import { type SessionOptions, loadOnnxRuntime } from '../diffusion/onnx-runtime';

/** A tensor as it crosses the thread boundary. */
export interface PlainTensor {
  type: string;
  dims: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array;
}

export interface TensorInfo {
  name: string;
  /** Element type ("float32", ...), or "non-tensor". */
  type: string;
  /** Static sizes as numbers, symbolic ones as their names. */
  shape: Array<number | string>;
}

type Reply = { ok: true; inputs?: TensorInfo[]; outputs?: TensorInfo[]; results?: Record<string, PlainTensor> } | { ok: false; message: string };

/**
 * The worker: one onnxruntime session, answering each request on the port and then raising the flag the
 * waiting thread sleeps on. CommonJS source run with `eval`, so it needs no file of its own in the built
 * package or under the test runner.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const { port, flag } = workerData;
let session;
function reply(message) {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
function info(list) {
  return list.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: Array.from(m.shape) } : { name: m.name, type: 'non-tensor', shape: [] }));
}
port.on('message', async (request) => {
  try {
    if (request.kind === 'open') {
      session = await ort.InferenceSession.create(request.path, request.options);
      reply({ ok: true, inputs: info(session.inputMetadata), outputs: info(session.outputMetadata) });
    } else if (request.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(request.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const out = await session.run(feeds, request.outputs);
      const results = {};
      for (const [name, t] of Object.entries(out)) results[name] = { type: t.type, dims: Array.from(t.dims), data: t.data };
      reply({ ok: true, results });
    } else {
      if (session) await session.release();
      session = undefined;
      reply({ ok: true });
    }
  } catch (error) {
    reply({ ok: false, message: error && error.message ? error.message : String(error) });
  }
});
`;

/** How long one call may take before the waiting thread gives up (a stuck model, not a slow one). */
const CALL_TIMEOUT_MS = 10 * 60_000;

/**
 * An onnxruntime session that answers synchronously: the FeatureExtractor contract (quality scorers,
 * kNN, probes) is synchronous and onnxruntime-node only runs asynchronously, so the session lives in a
 * worker thread and each call blocks this thread (Atomics.wait) until the worker has posted its answer,
 * which is then taken off the port at once (receiveMessageOnPort). The worker is unref'd: an encoder
 * nobody disposed does not keep the process alive.
 */
export class SyncOnnxSession {
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly flag: Int32Array,
    readonly path: string,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
  ) {}

  static async open(path: string, options: SessionOptions = {}): Promise<SyncOnnxSession> {
    // The same loader (and install hint) as every other ONNX part; the worker then loads the same module file.
    await loadOnnxRuntime();
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath, port: port2, flag }, transferList: [port2] });
    worker.unref();
    port1.unref();
    const providers = options.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
    const reply = call(port1, flag, { kind: 'open', path, options: { executionProviders: providers, intraOpNumThreads: options.threads ?? 0, graphOptimizationLevel: 'all' } });
    if (!reply.ok) {
      await worker.terminate();
      throw new GenviewError('UNREADABLE_FILE', `onnxruntime could not load ${path}: ${reply.message}.`, {
        where: path,
        fix: 'check the file is a complete ONNX model (a large one needs its .onnx_data beside it).',
      });
    }
    return new SyncOnnxSession(worker, port1, flag, path, reply.inputs ?? [], reply.outputs ?? []);
  }

  /** Runs the model on `feeds` and returns the named outputs; a failure is thrown with onnxruntime's message. */
  run(feeds: Record<string, PlainTensor>, outputs: readonly string[]): Record<string, PlainTensor> {
    if (this.closed) throw new GenviewError('BAD_INPUT', `the ONNX session for ${this.path} was disposed and cannot run.`, { fix: 'load the encoder again.' });
    const reply = call(this.port, this.flag, { kind: 'run', feeds, outputs: [...outputs] });
    if (!reply.ok) {
      const shapes = Object.entries(feeds)
        .map(([k, t]) => `${k}: ${t.type}[${t.dims.join(', ')}]`)
        .join('; ');
      throw new GenviewError('BAD_SHAPE', `running ${this.path} on ${shapes} failed: ${reply.message}.`, {
        where: this.path,
        fix: 'check the input size, layout and channels the model expects (its input metadata) against the encoder options.',
      });
    }
    return reply.results ?? {};
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      call(this.port, this.flag, { kind: 'close' }, 30_000);
    } finally {
      this.port.close();
      void this.worker.terminate();
    }
  }
}

function call(port: MessagePort, flag: Int32Array, request: unknown, timeout = CALL_TIMEOUT_MS): Reply {
  Atomics.store(flag, 0, 0);
  port.postMessage(request);
  if (Atomics.wait(flag, 0, 0, timeout) === 'timed-out') {
    throw new GenviewError('INTERNAL', `the ONNX worker did not answer within ${Math.round(timeout / 1000)} s.`, {
      fix: 'check the model runs in onnxruntime on its own; a model this slow needs a smaller batch.',
    });
  }
  const message = receiveMessageOnPort(port);
  if (message === undefined) throw new GenviewError('INTERNAL', 'the ONNX worker raised its flag without an answer.');
  return message.message as Reply;
}
