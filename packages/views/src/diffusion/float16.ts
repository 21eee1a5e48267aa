/**
 * fp16 exports declare float16 inputs and outputs; onnxruntime-node exchanges them as raw Uint16 bits,
 * so the pipeline converts at the boundary and keeps its own arithmetic in float32.
 */
const scratch = new Float32Array(1);
const bits = new Uint32Array(scratch.buffer);

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    scratch[0] = values[i] as number;
    const x = bits[0] as number;
    const sign = (x >>> 16) & 0x8000;
    const exponent = ((x >>> 23) & 0xff) - 127 + 15;
    const mantissa = x & 0x7fffff;
    if (exponent >= 0x1f) {
      // Overflow goes to infinity; NaN keeps a mantissa bit.
      out[i] = sign | 0x7c00 | (((x >>> 23) & 0xff) === 0xff && mantissa !== 0 ? 0x200 : 0);
    } else if (exponent <= 0) {
      if (exponent < -10) {
        out[i] = sign;
      } else {
        const m = (mantissa | 0x800000) >>> (1 - exponent);
        out[i] = sign | ((m + 0x1000) >>> 13);
      }
    } else {
      // Round to nearest; a carry out of the mantissa correctly bumps the exponent.
      out[i] = sign | ((exponent << 10) + ((mantissa + 0x1000) >>> 13));
    }
  }
  return out;
}

export function fromFloat16(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const h = values[i] as number;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (mantissa / 1024);
    else if (exponent === 0x1f) out[i] = mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return out;
}
