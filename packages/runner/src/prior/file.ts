import { readFileSync } from 'node:fs';
import { GenviewError, decodeSafetensors } from '@genview/core';
import { type PriorFeatures, tablePrior } from './features';

export interface FilePriorOptions {
  /** Which tensor of a .safetensors file holds the [count, F] features; the only one when unset. */
  tensor?: string;
}

interface Table {
  values: Float32Array;
  dim: number;
}

function asTable(shape: readonly number[], data: ArrayLike<number>, path: string, where: string): Table {
  if (shape.length !== 2 && shape.length !== 1) {
    throw new GenviewError('BAD_SHAPE', `${path} holds a tensor of shape [${shape}]; prior features must be [count, F] (or [count]).`, {
      where,
      fix: 'save one row of features per dataset index.',
    });
  }
  return { values: Float32Array.from(data), dim: shape.length === 2 ? shape[1] : 1 };
}

function readSafetensors(bytes: Uint8Array, path: string, options: FilePriorOptions, where: string): Table {
  const file = decodeSafetensors(bytes, path);
  const names = Object.keys(file.tensors);
  const name = options.tensor ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined || !file.tensors[name]) {
    throw new GenviewError('NOT_FOUND', `${path} holds tensors [${names.join(', ')}]; ${options.tensor ? `no tensor "${options.tensor}"` : 'which one holds the features?'}`, {
      where: `${where}.tensor`,
      fix: 'set tensor to the name of the [count, F] features tensor.',
    });
  }
  const tensor = file.tensors[name];
  return asTable(tensor.shape, tensor.data, path, where);
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy's .npy format (versions 1–3), C order, little-endian float32/float64/int32/int64/uint8. */
function readNpy(bytes: Uint8Array, path: string, where: string): Table {
  const bad = (problem: string): never => {
    throw new GenviewError('UNREADABLE_FILE', `${path}: ${problem}`, { where, fix: 'save the features with numpy.save(path, array.astype("float32")) in C order.' });
  };
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) bad('not a .npy file (bad magic).');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) bad('unreadable header.');
  if (fortran === 'True') bad('Fortran-order arrays are not supported.');
  const shape = (shapeText as string)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLength;
  // A fresh copy starting at byte 0 of its own buffer (a Node Buffer's slice() is a view into a shared
  // pool), so typed arrays over it are aligned and start at the data.
  const body = new Uint8Array(bytes.subarray(offset));
  const readers: Record<string, (n: number) => ArrayLike<number>> = {
    '<f4': (n) => new Float32Array(body.buffer, 0, n),
    '<f8': (n) => new Float64Array(body.buffer, 0, n),
    '<i4': (n) => new Int32Array(body.buffer, 0, n),
    '<i8': (n) => Array.from(new BigInt64Array(body.buffer, 0, n), Number),
    '|u1': (n) => new Uint8Array(body.buffer, 0, n),
  };
  const reader = readers[descr as string];
  if (!reader) bad(`dtype ${descr} is not supported (use float32, float64, int32, int64 or uint8, little-endian).`);
  const itemBytes = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1 }[descr as '<f4'];
  if (body.length < count * itemBytes) bad(`the header promises ${count} values but the file is too short.`);
  return asTable(shape, reader(count), path, where);
}

/**
 * Prior features precomputed elsewhere (e.g. a generative model's encoder run in Python), one row per
 * dataset index: a .safetensors file (F32, F16, BF16, F64, I32 or I64) or a .npy array.
 */
export function filePrior(path: string, options: FilePriorOptions = {}, where = 'prior'): PriorFeatures {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new GenviewError('NOT_FOUND', `cannot read prior features file ${path}.`, { where: `${where}.path`, fix: 'check the path.', cause: error });
  }
  const table = path.endsWith('.npy') ? readNpy(bytes, path, where) : readSafetensors(bytes, path, options, where);
  return tablePrior(table.values, table.dim, where);
}
