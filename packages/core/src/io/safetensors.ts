import { GenviewError } from '../errors';

/**
 * The safetensors container: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then one
 * flat data buffer. Each JSON entry is `name: { dtype, shape, data_offsets: [begin, end] }` with offsets
 * relative to the data buffer; the optional `__metadata__` entry maps strings to strings. We write and
 * read the two dtypes GenView's weights need (F32, I32); a file with other dtypes is refused by name
 * instead of being misread. Chosen because it is a plain, documented format that other tools load
 * without executing code (unlike pickles) and the whole file is one read.
 */
export type SafetensorsDtype = 'float32' | 'int32';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const FILE_DTYPE: Record<SafetensorsDtype, 'F32' | 'I32'> = { float32: 'F32', int32: 'I32' };
const BYTES_PER_ELEMENT = 4;
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
    if (!(t.dtype in FILE_DTYPE)) {
      throw new GenviewError('BAD_INPUT', `tensor "${name}" has dtype ${String(t.dtype)}; only float32 and int32 are written.`);
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
    const end = offset + t.data.length * BYTES_PER_ELEMENT;
    header[name] = { dtype: FILE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, end] };
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
    const [begin] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), dataStart + begin);
    } else {
      for (let i = 0; i < t.data.length; i++) {
        const at = dataStart + begin + i * BYTES_PER_ELEMENT;
        if (t.dtype === 'float32') view.setFloat32(at, t.data[i], true);
        else view.setInt32(at, t.data[i], true);
      }
    }
  }
  return out;
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
    const dtype: SafetensorsDtype | undefined = entry.dtype === 'F32' ? 'float32' : entry.dtype === 'I32' ? 'int32' : undefined;
    if (dtype === undefined) {
      fail(`tensor "${name}" has dtype ${entry.dtype}; only F32 and I32 are supported.`, source, 'convert the tensor to float32 or int32 before saving.');
    }
    const [begin, end] = entry.data_offsets;
    const count = elementCount(entry.shape);
    if ((end - begin) !== count * BYTES_PER_ELEMENT) {
      fail(
        `tensor "${name}" has shape [${entry.shape.join(', ')}] (${count * BYTES_PER_ELEMENT} bytes) but data_offsets span ${end - begin} bytes.`,
        source,
      );
    }
    const at = bytes.byteOffset + dataStart + begin;
    let data: Float32Array | Int32Array;
    if (LITTLE_ENDIAN_HOST) {
      // slice() copies, so the result is aligned and independent of the caller's buffer.
      const copy = bytes.buffer.slice(at, at + count * BYTES_PER_ELEMENT);
      data = dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
    } else {
      data = dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const o = dataStart + begin + i * BYTES_PER_ELEMENT;
        data[i] = dtype === 'float32' ? view.getFloat32(o, true) : view.getInt32(o, true);
      }
    }
    tensors[name] = { dtype, shape: [...entry.shape], data };
  }
  return { tensors, metadata };
}
