import { GenviewError } from '@genview/core';
import { type ExportFormat, exportRun } from '../../run/export';
import { defineCommand } from '../command';
import { helpOption, jsonOption, plainOption, pluginOption } from '../options';
import { registryFrom, withProgress } from '../session';

const FORMATS: readonly ExportFormat[] = ['safetensors'];
const DTYPES = ['F32', 'F16', 'BF16'] as const;

export const exportCommand = defineCommand({
  name: 'export',
  summary: "write a trained run's backbone for PyTorch (safetensors, torchvision names and layouts)",
  usage: ['export --run DIR [--format safetensors] [--out FILE] [--dtype F32|F16|BF16] [--json]'],
  description: [
    "Rebuilds the run's framework from its config.json, loads its last checkpoint and writes the online",
    'backbone as a safetensors state dict with torchvision/timm names, OIHW convolutions and [out, in]',
    'linear weights. In PyTorch: model = torchvision.models.resnet18(); model.fc = torch.nn.Identity();',
    'model.load_state_dict(safetensors.torch.load_file(FILE)). ONNX export is not available yet.',
  ].join('\n'),
  options: {
    run: { type: 'string', value: 'DIR', help: 'the outDir of a `genview train` run (required)' },
    format: { type: 'string', value: 'FORMAT', help: 'safetensors (default)' },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'where to write (default DIR/backbone.safetensors)' },
    dtype: { type: 'string', value: 'DTYPE', help: 'how floats are stored: F32 (default), F16 or BF16' },
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
    if (!FORMATS.includes(format)) {
      throw new GenviewError('BAD_ARGUMENT', `--format ${format} is not supported.`, {
        where: 'genview export --format',
        fix: `use ${FORMATS.join(' or ')} (ONNX export is not available yet).`,
      });
    }
    const dtype = args.string('dtype') ?? 'F32';
    if (!(DTYPES as readonly string[]).includes(dtype)) {
      throw new GenviewError('BAD_ARGUMENT', `--dtype ${dtype} is not supported.`, { where: 'genview export --dtype', fix: `use one of ${DTYPES.join(', ')}.` });
    }
    const registry = await registryFrom(args, undefined);
    // Logs on stderr, so stdout carries only the result (one JSON document with --json).
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) =>
      exportRun({ runDir, format, out: args.string('out'), dtype: dtype as (typeof DTYPES)[number], registry, events }),
    );
    return { result, text: `\n${result.framework}'s ${result.backbone} (step ${result.step}, ${result.tensors} tensors) -> ${result.out}\n` };
  },
});
