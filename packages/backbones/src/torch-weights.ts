import {
  GenviewError,
  type Module,
  type ModuleVariable,
  type SafetensorsTensor,
  decodeSafetensors,
  encodeSafetensors,
  readFileIfExists,
  tf,
  writeFileAtomic,
} from '@genview/core';

/**
 * PyTorch state dicts (torchvision and timm names) to and from our modules. Our variables already carry
 * those names (conv1.weight, layer2.0.downsample.1.running_var, blocks.3.attn.qkv.weight, ...); what
 * differs is the layout: a convolution is [out, in, kh, kw] in PyTorch and [kh, kw, in, out] (HWIO) here,
 * and a linear layer is [out, in] there and [in, out] here. Which applies follows from our variable: a
 * rank-4 variable is a convolution and a rank-2 `*.weight` a linear layer (every backbone here; an
 * embedding table would be the exception, and no image backbone has one). Everything else (biases,
 * batch-norm scales and running statistics, layer norms, class token, position embedding) is copied.
 */

/** Keys a PyTorch image model has that a backbone never needs: batch-norm step counters and the classifier. */
export const DEFAULT_IGNORED_TORCH_KEYS: readonly RegExp[] = [/(^|\.)num_batches_tracked$/, /^fc\./, /^head\./, /^classifier\./];

export interface TorchWeightsOptions {
  /**
   * A prefix on every key of the file that belongs to the backbone ("backbone.", "module.", "encoder.").
   * Default: found from the file (the text before the module's first variable name), "" when none.
   */
  prefix?: string;
  /** Keys (after the prefix) skipped without complaint; default DEFAULT_IGNORED_TORCH_KEYS. */
  ignore?: readonly RegExp[];
  /** The file, for messages. */
  source?: string;
}

export interface TorchWeightsReport {
  /** Tensors assigned. */
  loaded: number;
  /** File keys skipped by `ignore` (classifier, counters). */
  ignored: string[];
  /** The prefix the backbone's keys had in the file. */
  prefix: string;
  /** The file's dtypes, as counts: { F16: 122 }. */
  storedDtypes: Record<string, number>;
}

type Layout = 'conv' | 'linear' | 'plain';

function layoutOf(v: ModuleVariable): Layout {
  const rank = v.variable.shape.length;
  if (rank === 4) return 'conv';
  if (rank === 2 && v.name.endsWith('.weight')) return 'linear';
  return 'plain';
}

/** The shape a variable has in a PyTorch state dict. */
function torchShape(shape: readonly number[], layout: Layout): number[] {
  if (layout === 'conv') return [shape[3], shape[2], shape[0], shape[1]];
  if (layout === 'linear') return [shape[1], shape[0]];
  return [...shape];
}

/** PyTorch [O, I, H, W] values to our [H, W, I, O]. */
function oihwToHwio(data: Float32Array, [o, i, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < h; y++) {
        const from = ((a * i + b) * h + y) * w;
        for (let x = 0; x < w; x++) out[((y * w + x) * i + b) * o + a] = data[from + x];
      }
    }
  }
  return out;
}

/** Our [H, W, I, O] values to PyTorch's [O, I, H, W]. */
function hwioToOihw(data: Float32Array, [h, w, i, o]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let b = 0; b < i; b++) {
        const from = ((y * w + x) * i + b) * o;
        for (let a = 0; a < o; a++) out[((a * i + b) * h + y) * w + x] = data[from + a];
      }
    }
  }
  return out;
}

/** A [rows, cols] matrix transposed. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listed(names: readonly string[], limit = 12): string {
  const shown = names.slice(0, limit).join(', ');
  return names.length > limit ? `${shown}, … (${names.length} in all)` : shown;
}

function findPrefix(keys: readonly string[], variables: readonly ModuleVariable[]): string {
  if (variables.length === 0) return '';
  const first = variables[0].name;
  if (keys.includes(first)) return '';
  const hit = keys.find((k) => k.endsWith(`.${first}`));
  return hit === undefined ? '' : hit.slice(0, hit.length - first.length);
}

/**
 * Converts a PyTorch state dict to our names and layouts for `module` and checks it fits: every variable
 * present with the right shape, no key left over but the ignored ones. Problems are reported together
 * (missing, unexpected and mis-shaped keys, by their PyTorch names and shapes) in one GenviewError.
 */
export function fromTorchStateDict(
  module: Module,
  state: Readonly<Record<string, SafetensorsTensor>>,
  options: TorchWeightsOptions = {},
): { weights: Map<ModuleVariable, Float32Array>; report: TorchWeightsReport } {
  const variables = module.variables();
  const keys = Object.keys(state);
  const prefix = options.prefix ?? findPrefix(keys, variables);
  const ignore = options.ignore ?? DEFAULT_IGNORED_TORCH_KEYS;
  const missing: string[] = [];
  const misShaped: string[] = [];
  const wrongType: string[] = [];
  const weights = new Map<ModuleVariable, Float32Array>();
  const used = new Set<string>();
  const storedDtypes: Record<string, number> = {};
  for (const v of variables) {
    const key = prefix + v.name;
    const t = state[key];
    if (t === undefined) {
      missing.push(key);
      continue;
    }
    used.add(key);
    const layout = layoutOf(v);
    const expected = torchShape(v.variable.shape, layout);
    if (t.dtype !== 'float32') {
      wrongType.push(`${key} is ${t.stored ?? t.dtype}, not a float tensor`);
      continue;
    }
    if (!sameShape(t.shape, expected)) {
      misShaped.push(`${key} is [${t.shape.join(', ')}], expected [${expected.join(', ')}]`);
      continue;
    }
    const data = t.data as Float32Array;
    storedDtypes[t.stored ?? 'F32'] = (storedDtypes[t.stored ?? 'F32'] ?? 0) + 1;
    weights.set(v, layout === 'conv' ? oihwToHwio(data, t.shape) : layout === 'linear' ? transpose2d(data, t.shape[0], t.shape[1]) : data);
  }
  const ignored: string[] = [];
  const unexpected: string[] = [];
  for (const key of keys) {
    if (used.has(key)) continue;
    if (!key.startsWith(prefix)) continue;
    if (ignore.some((re) => re.test(key.slice(prefix.length)))) ignored.push(key);
    else unexpected.push(key);
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length} key(s): ${listed(missing)}`);
  if (unexpected.length) problems.push(`${unexpected.length} unexpected key(s): ${listed(unexpected)}`);
  if (misShaped.length) problems.push(`${misShaped.length} mis-shaped: ${listed(misShaped, 6)}`);
  if (wrongType.length) problems.push(`${wrongType.length} not float: ${listed(wrongType, 6)}`);
  if (problems.length) {
    throw new GenviewError('CHECKPOINT', `the PyTorch weights do not fit ${module.name}${prefix ? ` (keys under "${prefix}")` : ''}: ${problems.join('; ')}.`, {
      where: options.source,
      fix:
        'export the same architecture (torchvision/timm names; ResNet: the "imagenet" stem for torchvision weights, the same depth and width; ViT: the same imageSize and patchSize), ' +
        'or set the prefix the backbone has in the file.',
    });
  }
  return { weights, report: { loaded: weights.size, ignored, prefix, storedDtypes } };
}

/** Loads a PyTorch state dict into `module` (nothing is assigned when any check fails). */
export function setTorchWeights(module: Module, state: Readonly<Record<string, SafetensorsTensor>>, options: TorchWeightsOptions = {}): TorchWeightsReport {
  const { weights, report } = fromTorchStateDict(module, state, options);
  tf.tidy(() => {
    for (const [v, data] of weights) v.variable.assign(tf.tensor(data, v.variable.shape, 'float32'));
  });
  return report;
}

/** Reads a safetensors file of PyTorch weights (F32, F16, BF16 or F64) into `module`; see fromTorchStateDict. */
export async function loadTorchWeights(path: string, module: Module, options: Omit<TorchWeightsOptions, 'source'> = {}): Promise<TorchWeightsReport> {
  const bytes = await readFileIfExists(path);
  if (bytes === null) {
    throw new GenviewError('NOT_FOUND', `no weights file at ${path}.`, {
      where: path,
      fix: 'check the path; the file is a safetensors state dict (e.g. safetensors.torch.save_file(model.state_dict(), path)).',
    });
  }
  return setTorchWeights(module, decodeSafetensors(bytes, path).tensors, { ...options, source: path });
}

/** The module's variables as a PyTorch state dict: PyTorch names and layouts, float32 (or `stored`). */
export function toTorchStateDict(module: Module, stored: 'F32' | 'F16' | 'BF16' = 'F32'): Record<string, SafetensorsTensor> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const v of module.variables()) {
    const layout = layoutOf(v);
    const shape = v.variable.shape as number[];
    const data = new Float32Array(v.variable.dataSync() as Float32Array);
    const values = layout === 'conv' ? hwioToOihw(data, shape) : layout === 'linear' ? transpose2d(data, shape[0], shape[1]) : data;
    out[v.name] = { dtype: 'float32', shape: torchShape(shape, layout), data: values, stored };
  }
  return out;
}

/** Writes the module as a PyTorch-loadable safetensors state dict, atomically. */
export async function saveTorchWeights(
  path: string,
  module: Module,
  options: { stored?: 'F32' | 'F16' | 'BF16'; metadata?: Record<string, string> } = {},
): Promise<void> {
  // "format": "pt" is what safetensors.torch writes; some loaders check it.
  await writeFileAtomic(path, encodeSafetensors(toTorchStateDict(module, options.stored), { format: 'pt', ...options.metadata }));
}
