import { GenviewError } from '@genview/core';
import type { OnnxImageEncoderOptions } from '@genview/views';

/** Normalisation presets for mean= and std=: the values torchvision/timm and CLIP models are trained with. */
const PRESETS: Record<string, { mean: number[]; std: number[] }> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  clip: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
  half: { mean: [0.5], std: [0.5] },
};

export const ONNX_ENCODER_OPTIONS =
  'input=NAME, layout=nchw|nhwc, size=N, norm=imagenet|clip|half, mean=a,b,c, std=a,b,c, output=NAME, pool=mean|first, batch=N, threads=N';

/**
 * `onnx:<file>[?key=value&...]`: the model file and the OnnxImageEncoder options, written in the encoder
 * name so every place that takes one (eval.encoder, quality scorers' encoder, fit-foreground --encoder)
 * can set them. E.g. onnx:resnet18.onnx?norm=imagenet&size=224.
 */
export function parseOnnxEncoderName(arg: string, where: string): { file: string; options: OnnxImageEncoderOptions } {
  const q = arg.indexOf('?');
  const file = q < 0 ? arg : arg.slice(0, q);
  const options: OnnxImageEncoderOptions = {};
  if (file.length === 0) throw bad(where, 'names no file', 'write onnx:<file.onnx>');
  if (q < 0) return { file, options };
  for (const pair of arg.slice(q + 1).split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (value === '') throw bad(where, `option "${key}" has no value`, `write ${key}=VALUE`);
    switch (key) {
      case 'input':
      case 'output':
        options[key] = value;
        break;
      case 'layout':
        if (value !== 'nchw' && value !== 'nhwc') throw bad(where, `layout=${value} is not nchw or nhwc`, 'write layout=nchw (PyTorch) or layout=nhwc (TensorFlow)');
        options.layout = value;
        break;
      case 'pool':
        if (value !== 'mean' && value !== 'first') throw bad(where, `pool=${value} is not mean or first`, 'write pool=mean (average the tokens) or pool=first (a class token)');
        options.pool = value;
        break;
      case 'size':
      case 'batch':
      case 'threads': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < (key === 'threads' ? 0 : 1)) throw bad(where, `${key}=${value} is not a ${key === 'threads' ? 'non-negative' : 'positive'} integer`, `write e.g. ${key}=${key === 'size' ? 224 : 4}`);
        if (key === 'size') options.size = n;
        else if (key === 'batch') options.batchSize = n;
        else options.threads = n;
        break;
      }
      case 'norm': {
        const preset = PRESETS[value];
        if (!preset) throw bad(where, `norm=${value} is not a known preset`, `write norm=${Object.keys(PRESETS).join('|')}, or mean= and std=`);
        options.mean = preset.mean;
        options.std = preset.std;
        break;
      }
      case 'mean':
      case 'std': {
        const values = value.split(',').map(Number);
        if (values.some((v) => !Number.isFinite(v))) throw bad(where, `${key}=${value} is not a comma-separated list of numbers`, `write e.g. ${key}=0.5 or ${key}=0.485,0.456,0.406`);
        options[key] = values;
        break;
      }
      default:
        throw bad(where, `"${key}" is not an ONNX encoder option`, `use ${ONNX_ENCODER_OPTIONS}`);
    }
  }
  return { file, options };
}

function bad(where: string, problem: string, fix: string): GenviewError {
  return new GenviewError('BAD_INPUT', `the encoder name "${where}" ${problem}.`, { where, fix: `${fix} (onnx:<file>?key=value&...).` });
}
