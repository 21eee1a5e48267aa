import { GenviewError } from '@genview/core';
import { DEFAULT_FIT_IMAGES, fitForegroundFromConfig } from '../../run/fit-foreground';
import { defineCommand } from '../command';
import { configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { configFrom, registryFrom, withProgress } from '../session';

export const fitForegroundCommand = defineCommand({
  name: 'fit-foreground',
  summary: "fit GenView's foreground direction on an encoder's patch tokens and save it",
  usage: [`fit-foreground [--config run.yaml] --encoder checkpoint:runs/x --out fg.safetensors [--images ${DEFAULT_FIT_IMAGES}] [--json]`],
  description: [
    "Fits the first principal component of a frozen encoder's patch tokens on data.train (GenView's",
    'foreground/background direction) and writes it as safetensors for the quality scorer and',
    'adaptive noise.',
  ].join('\n'),
  options: {
    config: configOption,
    set: setOption,
    plugin: pluginOption,
    encoder: { type: 'string', value: 'NAME', help: "checkpoint:<run dir> (a trained run's encoder), safetensors:<file> (PyTorch weights in this config's backbone), random:<seed>, onnx:<file.onnx>[?options] (an ONNX image model with a token or map output) or onnx:<folder> (an ONNX image tower with patch_tokens; onnx:tiny-clip is the bundled one) (required)" },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'where to write the foreground direction (safetensors; required)' },
    images: { type: 'string', value: 'N', help: `fit on the first N images of data.train (default ${DEFAULT_FIT_IMAGES})` },
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const config = configFrom(args);
    const encoder = args.string('encoder');
    const out = args.string('out');
    if (!encoder || !out) {
      throw new GenviewError('BAD_ARGUMENT', `fit-foreground needs ${encoder ? '--out' : '--encoder'}.`, {
        where: 'genview fit-foreground',
        fix: 'e.g. genview fit-foreground --config run.yaml --encoder checkpoint:runs/x --out runs/x/fg.safetensors',
      });
    }
    const images = args.count('images', DEFAULT_FIT_IMAGES);
    const registry = await registryFrom(args, config);
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) => fitForegroundFromConfig(config, { encoder, out, images, events, registry }));
    const d = result.direction;
    const percent = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)} %`);
    const text =
      `\nforeground direction ${result.out}: ${d.vector.length} dims from ${result.images} images in ${result.seconds.toFixed(1)} s\n` +
      `  threshold ${d.threshold.toPrecision(6)} · foreground fraction ${percent(d.foregroundFraction)} · explained variance ${percent(d.explainedVariance)}\n`;
    return { result, text };
  },
});
