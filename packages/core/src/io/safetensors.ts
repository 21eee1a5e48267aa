import { GenviewError } from '../errors';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half-floats';

/**
 * The safetensors container: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then one
 * flat data buffer. Each JSON entry is `name: { dtype, shape, data_offsets: [begin, end] }` with offsets
 * relative to the data buffer; the optional `__metadata__` entry maps strings to strings. In memory a
 * tensor is float32 or int32 (what TensorFlow.js computes in); in the file floats may be F32, F16, BF16
 * or F64 and integers I32 or I64 (PyTorch's usual checkpoint dtypes: half-precision weights, int64
 * batch-norm counters), converted on read and, for F16/BF16, rounded on write. A file with another
 * dtype is refused by name instead of being misread. Chosen because it is a plain, documented format
 * that other tools load without executing code (unlike pickles) and the whole file is one read.
 */
export type SafetensorsDtype = 'float32' | 'int32';

/** Element types as the file names them; the ones this reader converts. */
export type SafetensorsFileDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
  /**
   * The element type in the file. On read: what the file held (F16, BF16 and F64 become float32 data,
   * I64 int32). On write: how the data is stored; default F32 for float32 and I32 for int32; float32
   * data may also be written as F16 or BF16 (rounded to nearest even) or F64 (exact).
   */
  stored?: SafetensorsFileDtype;
}

export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const DEFAULT_STORED: Record<SafetensorsDtype, SafetensorsFileDtype> = { float32: 'F32', int32: 'I32' };
/** What each file dtype holds in memory and its size in bytes. */
const FILE_DTYPES: Record<SafetensorsFileDtype, { dtype: SafetensorsDtype; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float32', bytes: 2 },
  BF16: { dtype: 'float32', bytes: 2 },
  F64: { dtype: 'float32', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I64: { dtype: 'int32', bytes: 8 },
};
const READ_DTYPES = Object.keys(FILE_DTYPES).join(', ');
/** I64 is read (PyTorch's counters) but not written: nothing in GenView needs more than int32. */
const WRITABLE: Record<SafetensorsDtype, readonly SafetensorsFileDtype[]> = { float32: ['F32', 'F16', 'BF16', 'F64'], int32: ['I32'] };
/** The same ceiling the reference implementation puts on the header, so a corrupt length cannot allocate gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

/** Byte order of this machine; safetensors is little-endian, so a big-endian host takes the slow path. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function fail(problem: string, where: string | undefined, fix?: string): never {
  throw new GenviewError('UNREADABLE_FILE', problem, {
    where,
    fix: fix ?? 'the file is not a valid safetensors file or is damaged; write it again (saveWeights writes atomically).',
  });
}

/** Serialises named tensors (and optional string metadata) into one safetensors byte array. */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  // Sorted names give byte-identical files for the same content, whatever order the caller built the record in.
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new GenviewError('BAD_INPUT', `safetensors metadata "${key}" must be a string, got ${typeof value}.`, {
          fix: 'convert metadata values to strings (JSON.stringify for structured values).',
        });
      }
    }
    header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name.length === 0 || name === METADATA_KEY) {
      throw new GenviewError('BAD_INPUT', `"${name}" cannot be a tensor name in a safetensors file.`, {
        fix: `use a non-empty name other than "${METADATA_KEY}".`,
      });
    }
    if (!(t.dtype in DEFAULT_STORED)) {
      throw new GenviewError('BAD_INPUT', `tensor "${name}" has dtype ${String(t.dtype)}; only float32 and int32 are written.`);
    }
    const stored = t.stored ?? DEFAULT_STORED[t.dtype];
    if (!WRITABLE[t.dtype].includes(stored)) {
      throw new GenviewError('BAD_INPUT', `tensor "${name}" is ${t.dtype} and cannot be stored as ${String(stored)}.`, {
        fix: `store ${t.dtype} data as one of ${WRITABLE[t.dtype].join(', ')}.`,
      });
    }
    const expectedArray = t.dtype === 'float32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expectedArray)) {
      throw new GenviewError('BAD_INPUT', `tensor "${name}" is ${t.dtype} but its data is a ${t.data.constructor.name}.`, {
        fix: `pass a ${expectedArray.name} for dtype ${t.dtype}.`,
      });
    }
    if (!isValidShape(t.shape)) {
      throw new GenviewError('BAD_INPUT', `tensor "${name}" has shape ${JSON.stringify(t.shape)}; dims must be non-negative integers.`);
    }
    if (elementCount(t.shape) !== t.data.length) {
      throw new GenviewError(
        'BAD_INPUT',
        `tensor "${name}" has shape [${t.shape.join(', ')}] (${elementCount(t.shape)} elements) but ${t.data.length} values.`,
      );
    }
    const end = offset + t.data.length * FILE_DTYPES[stored].bytes;
    header[name] = { dtype: stored, shape: [...t.shape], data_offsets: [offset, end] };
    offset = end;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data buffer starts 8-byte aligned, as the format recommends:
  // readers can then view tensors in place without copying.
  const headerLength = json.length + ((8 - ((8 + json.length) % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  const dataStart = 8 + headerLength;
  for (const name of names) {
    const t = tensors[name];
    const entry = header[name] as { dtype: SafetensorsFileDtype; data_offsets: [number, number] };
    writeElements(out, view, dataStart + entry.data_offsets[0], t.data, entry.dtype);
  }
  return out;
}

/** Writes `data` at byte `at` of `out` as `stored`, little-endian. */
function writeElements(out: Uint8Array, view: DataView, at: number, data: Float32Array | Int32Array, stored: SafetensorsFileDtype): void {
  if ((stored === 'F32' || stored === 'I32') && LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  for (let i = 0; i < data.length; i++) {
    switch (stored) {
      case 'F32':
        view.setFloat32(at + 4 * i, data[i], true);
        break;
      case 'I32':
        view.setInt32(at + 4 * i, data[i], true);
        break;
      case 'F16':
        view.setUint16(at + 2 * i, float32ToFloat16Bits(data[i]), true);
        break;
      case 'BF16':
        view.setUint16(at + 2 * i, float32ToBfloat16Bits(data[i]), true);
        break;
      case 'F64':
        view.setFloat64(at + 8 * i, data[i], true);
        break;
      default:
        throw new GenviewError('INTERNAL', `no writer for ${stored}.`);
    }
  }
}

/** Reads `count` elements of file dtype `stored` from byte `at` into a fresh (aligned, independent) array. */
function readElements(bytes: Uint8Array, view: DataView, at: number, count: number, stored: SafetensorsFileDtype, name: string, source: string | undefined): Float32Array | Int32Array {
  if ((stored === 'F32' || stored === 'I32') && LITTLE_ENDIAN_HOST) {
    // slice() copies, so the result is aligned and independent of the caller's buffer.
    const copy = bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + count * 4);
    return stored === 'F32' ? new Float32Array(copy) : new Int32Array(copy);
  }
  if (stored === 'I32' || stored === 'I64') {
    const data = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      if (stored === 'I32') {
        data[i] = view.getInt32(at + 4 * i, true);
        continue;
      }
      const value = view.getBigInt64(at + 8 * i, true);
      if (value > 2147483647n || value < -2147483648n) {
        fail(`tensor "${name}" (I64) holds ${value} at element ${i}, outside the int32 range GenView computes in.`, source, 'store the tensor as I32, or leave it out of the file.');
      }
      data[i] = Number(value);
    }
    return data;
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (stored === 'F32') data[i] = view.getFloat32(at + 4 * i, true);
    else if (stored === 'F16') data[i] = float16BitsToFloat32(view.getUint16(at + 2 * i, true));
    else if (stored === 'BF16') data[i] = bfloat16BitsToFloat32(view.getUint16(at + 2 * i, true));
    else data[i] = view.getFloat64(at + 8 * i, true);
  }
  return data;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Parses a safetensors byte array. Every structural problem (short file, bad JSON, unknown dtype,
 * offsets that overlap, leave holes or run past the end) is a GenviewError naming what is wrong;
 * `source` (a path) is put in the message.
 */
export function decodeSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  if (bytes.length < 8) {
    fail(`a safetensors file starts with an 8-byte header length, but it has only ${bytes.length} bytes.`, source);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength64 = view.getBigUint64(0, true);
  if (headerLength64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`the header length field says ${headerLength64} bytes, more than the ${MAX_HEADER_BYTES}-byte limit.`, source);
  }
  const headerLength = Number(headerLength64);
  if (8 + headerLength > bytes.length) {
    fail(`the header length field says ${headerLength} bytes, but only ${bytes.length - 8} follow it (truncated file?).`, source);
  }

  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    if (!text.startsWith('{')) throw new Error('the header does not start with "{"');
    parsed = JSON.parse(text);
  } catch (error) {
    fail(`the header is not UTF-8 JSON (${error instanceof Error ? error.message : String(error)}).`, source);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail('the header must be a JSON object of tensor entries.', source);
  }

  const metadata: Record<string, string> = {};
  const entries: Array<[string, HeaderEntry]> = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${METADATA_KEY} must be an object.`, source);
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY}.${key} must be a string, got ${JSON.stringify(v)}.`, source);
        metadata[key] = v;
      }
      continue;
    }
    const entry = value as Partial<HeaderEntry> | null;
    if (entry === null || typeof entry !== 'object' || typeof entry.dtype !== 'string') {
      fail(`tensor "${name}" has no dtype.`, source);
    }
    if (!isValidShape(entry.shape)) fail(`tensor "${name}" has an invalid shape ${JSON.stringify(entry.shape)}.`, source);
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}.`, source);
    }
    entries.push([name, entry as HeaderEntry]);
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  // The format requires the tensors to tile the data buffer exactly: no overlaps, no holes, no tail.
  const byOffset = [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let expectedBegin = 0;
  for (const [name, entry] of byOffset) {
    const [begin, end] = entry.data_offsets;
    if (begin !== expectedBegin) {
      fail(`tensor "${name}" starts at byte ${begin} of the data but the previous tensor ended at ${expectedBegin} (overlap or hole).`, source);
    }
    if (end > dataLength) {
      fail(`tensor "${name}" ends at byte ${end} but the data is only ${dataLength} bytes (truncated file?).`, source);
    }
    expectedBegin = end;
  }
  if (expectedBegin !== dataLength) {
    fail(`the tensors cover ${expectedBegin} bytes but the data is ${dataLength} bytes long.`, source);
  }

  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, entry] of entries) {
    const stored = Object.hasOwn(FILE_DTYPES, entry.dtype) ? (entry.dtype as SafetensorsFileDtype) : undefined;
    if (stored === undefined) {
      fail(
        `tensor "${name}" has dtype ${entry.dtype}; GenView reads ${READ_DTYPES}.`,
        source,
        `convert "${name}" to float32 (or float16/bfloat16) before saving, or leave it out of the file.`,
      );
    }
    const { dtype, bytes: width } = FILE_DTYPES[stored];
    const [begin, end] = entry.data_offsets;
    const count = elementCount(entry.shape);
    if ((end - begin) !== count * width) {
      fail(
        `tensor "${name}" has shape [${entry.shape.join(', ')}] (${count * width} bytes of ${stored}) but data_offsets span ${end - begin} bytes.`,
        source,
      );
    }
    const data = readElements(bytes, view, dataStart + begin, count, stored, name, source);
    tensors[name] = { dtype, shape: [...entry.shape], data, stored };
  }
  return { tensors, metadata };
}
