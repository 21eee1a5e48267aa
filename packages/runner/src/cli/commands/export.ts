import { GenviewError } from '@genview/core';
import { EXPORT_FORMATS, type ExportFormat, exportRun } from '../../run/export';
import { defineCommand } from '../command';
import { helpOption, jsonOption, plainOption, pluginOption } from '../options';
import { registryFrom, withProgress } from '../session';

const DTYPES = ['F32', 'F16', 'BF16'] as const;

export const exportCommand = defineCommand({
  name: 'export',
  summary: "write a trained run's backbone for PyTorch (safetensors, torchvision names and layouts) or onnxruntime (ONNX)",
  usage: ['export --run DIR [--format safetensors|onnx] [--out FILE] [--dtype F32|F16|BF16] [--json]'],
  description: [
    "Rebuilds the run's framework from its config.json, loads its last checkpoint and writes the online",
    'backbone as a safetensors state dict with torchvision/timm names, OIHW convolutions and [out, in]',
    'linear weights. In PyTorch: model = torchvision.models.resnet18(); model.fc = torch.nn.Identity();',
    'model.load_state_dict(safetensors.torch.load_file(FILE)).',
    '--format onnx writes an opset-17 model (ResNet, small-cnn, ViT backbones) with input `pixels`,',
    'float32 [N, C, H, W] RGB in [0, 1] (no mean/std; transpose our NHWC images), and output `features`',
    '[N, featureDim]: onnxruntime.InferenceSession(FILE).run(None, {"pixels": x}).',
  ].join('\n'),
  options: {
    run: { type: 'string', value: 'DIR', help: 'the outDir of a `genview train` run (required)' },
    format: { type: 'string', value: 'FORMAT', help: 'safetensors (default) or onnx' },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'where to write (default DIR/backbone.safetensors or DIR/backbone.onnx)' },
    dtype: { type: 'string', value: 'DTYPE', help: 'how safetensors floats are stored: F32 (default), F16 or BF16 (ONNX is F32)' },
    plugin: pluginOption,
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const runDir = args.string('run');
    if (!runDir) {
      throw new GenviewError('BAD_ARGUMENT', 'export needs --run.', { where: 'genview export', fix: 'e.g. genview export --run runs/x --out backbone.safetensors' });
    }
    const format = (args.string('format') ?? 'safetensors') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) {
      throw new GenviewError('BAD_ARGUMENT', `--format ${format} is not supported.`, {
        where: 'genview export --format',
        fix: `use ${EXPORT_FORMATS.join(' or ')}.`,
      });
    }
    const given = args.string('dtype');
    const dtype = given ?? 'F32';
    if (!(DTYPES as readonly string[]).includes(dtype)) {
      throw new GenviewError('BAD_ARGUMENT', `--dtype ${dtype} is not supported.`, { where: 'genview export --dtype', fix: `use one of ${DTYPES.join(', ')}.` });
    }
    const registry = await registryFrom(args, undefined);
    // Logs on stderr, so stdout carries only the result (one JSON document with --json).
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) =>
      exportRun({ runDir, format, out: args.string('out'), dtype: given === undefined ? undefined : (dtype as (typeof DTYPES)[number]), registry, events }),
    );
    return { result, text: `\n${result.framework}'s ${result.backbone} (step ${result.step}, ${result.tensors} tensors) -> ${result.out}\n` };
  },
});
