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
 * Modules whose weights travel together. In an array each module's variables are keyed
 * `${module.name}.${variable.name}`; in a record the key replaces the module name, which is how two
 * instances of one network (online and momentum encoders) are told apart.
 */
export type ModuleSet = readonly Module[] | Readonly<Record<string, Module>>;

export interface SetWeightsOptions {
  /** When true (default) a name in the weights that no module has is an error; false ignores it (e.g. loading only a backbone from a full checkpoint). */
  strict?: boolean;
}

const FORMAT = 'genview-weights/1';

/** Every variable of the modules under its file name; duplicate names are an error, not a silent overwrite. */
export function namedVariables(modules: ModuleSet): Map<string, ModuleVariable> {
  const entries: Array<[string, Module]> = Array.isArray(modules)
    ? (modules as readonly Module[]).map((m) => [m.name, m])
    : Object.entries(modules as Readonly<Record<string, Module>>);
  const out = new Map<string, ModuleVariable>();
  for (const [prefix, module] of entries) {
    for (const v of module.variables()) {
      const key = `${prefix}.${v.name}`;
      if (out.has(key)) {
        throw new GenviewError('BAD_INPUT', `two modules give the weight name "${key}".`, {
          fix: 'pass the modules as a record with distinct keys, e.g. { online: a, target: b }.',
        });
      }
      out.set(key, v);
    }
  }
  return out;
}

/** A copy of every variable's values (buffers included), keyed as in a weights file. */
export function getWeights(modules: ModuleSet): Record<string, SafetensorsTensor> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const [key, v] of namedVariables(modules)) {
    // Copied: some backends hand out their own storage from dataSync().
    out[key] = { dtype: 'float32', shape: [...v.variable.shape], data: new Float32Array(v.variable.dataSync() as Float32Array) };
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listed(names: string[], limit = 10): string {
  const shown = names.slice(0, limit).join(', ');
  return names.length > limit ? `${shown}, … (${names.length} in all)` : shown;
}

/**
 * Assigns values to the modules' variables. Everything is checked first and nothing is assigned when any
 * check fails, so a bad file never leaves a half-loaded network. `source` names the file in messages.
 */
export function setWeights(modules: ModuleSet, weights: Readonly<Record<string, SafetensorsTensor>>, options: SetWeightsOptions = {}, source?: string): void {
  const strict = options.strict ?? true;
  const variables = namedVariables(modules);
  const missing: string[] = [];
  const problems: string[] = [];
  for (const [key, v] of variables) {
    const w = weights[key];
    if (w === undefined) {
      missing.push(key);
      continue;
    }
    if (w.dtype !== 'float32') problems.push(`"${key}" is ${w.dtype} in the weights but the variable is float32`);
    else if (!sameShape(w.shape, v.variable.shape)) {
      problems.push(`"${key}" has shape [${w.shape.join(', ')}] in the weights but the variable expects [${v.variable.shape.join(', ')}]`);
    } else if (w.data.length !== v.variable.size) {
      problems.push(`"${key}" has ${w.data.length} values for shape [${w.shape.join(', ')}]`);
    }
  }
  const extra = strict ? Object.keys(weights).filter((k) => !variables.has(k)) : [];
  if (missing.length) problems.unshift(`missing ${missing.length} weight(s): ${listed(missing)}`);
  if (extra.length) problems.push(`${extra.length} weight(s) match no variable: ${listed(extra)}`);
  if (problems.length) {
    throw new GenviewError('CHECKPOINT', `the weights do not fit the modules: ${problems.join('; ')}.`, {
      where: source,
      fix: extra.length && !missing.length && problems.length === 1
        ? 'pass { strict: false } to load a subset, or include the modules the extra names belong to.'
        : 'load weights saved from the same architecture and config (depth, widths, stem, channels), keyed by the same module names.',
    });
  }
  tf.tidy(() => {
    for (const [key, v] of variables) {
      const w = weights[key];
      v.variable.assign(tf.tensor(w.data, w.shape, 'float32'));
    }
  });
}

/**
 * Writes every variable of the modules (running statistics included) as F32 tensors in a safetensors
 * file, atomically: a crash mid-write leaves the previous file intact.
 */
export async function saveWeights(path: string, modules: ModuleSet, metadata: Record<string, string> = {}): Promise<void> {
  const variables = namedVariables(modules);
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [key, v] of variables) {
    const values = (await v.variable.data()) as Float32Array;
    tensors[key] = { dtype: 'float32', shape: [...v.variable.shape], data: values };
  }
  await writeFileAtomic(path, encodeSafetensors(tensors, { ...metadata, 'genview.format': FORMAT }));
}

/** Reads a safetensors weights file into the modules; see setWeights for the checks. Returns the file's metadata. */
export async function loadWeights(
  path: string,
  modules: ModuleSet,
  options: SetWeightsOptions = {},
): Promise<{ metadata: Record<string, string> }> {
  const bytes = await readFileIfExists(path);
  if (bytes === null) {
    throw new GenviewError('NOT_FOUND', `no weights file at ${path}.`, { where: path, fix: 'check the path; weights are written by saveWeights().' });
  }
  const { tensors, metadata } = decodeSafetensors(bytes, path);
  setWeights(modules, tensors, options, path);
  return { metadata };
}
