import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@genview/runner';
import { afterAll, describe, expect, it } from 'vitest';
import { sink } from './output-sink';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'genview-cli-output-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A run of a second or two: 64 coloured 8x8 digits, a tiny SimCLR, 2 steps, kNN only. */
function tinyRun(name: string): string {
  const digits = (split: string, count: number) => ({ name: 'colored-digits', split, count, size: 8, colors: 3, seed: 3 });
  const crop = [{ name: 'random-resized-crop', size: 8, scale: [0.5, 1] }];
  const file = join(root, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      seed: 1,
      outDir: join(root, name),
      data: { train: digits('train', 64), test: digits('test', 32) },
      views: { pipelines: [crop, crop] },
      framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8] }, projector: { name: 'mlp-projector', hiddenDim: 8, outDim: 4 } },
      optimizer: { name: 'adam' },
      trainer: { steps: 2, batchSize: 16, lr: 2e-3, scaleLr: false, logEvery: 1 },
      eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: false },
    }),
  );
  return file;
}

interface PrintedResults {
  outDir: string;
  totalSteps: number;
  evaluations: { encoder: string; results: { evaluator: string; metrics: Record<string, number> }[] }[];
}

describe('genview output: results on stdout, logs on stderr', () => {
  it('train and eval print their table on stdout and their progress, logs and backend line on stderr', async () => {
    const file = tinyRun('plain');
    const out = sink();
    const err = sink();
    expect(await main(['train', '--config', file, '--plain'], out, err)).toBe(0);
    expect(err.text()).toMatch(/^backend: \S+ \(/m);
    expect(err.text()).toMatch(/^step 2 \(epoch [\d.]+\): loss /m);
    expect(err.text()).toMatch(/^\[eval\] simclr · knn: /m);
    expect(out.text()).toMatch(/^\ntrained 2 steps \(total 2\) in \d+ s on \S+, \d+ img\/s, final loss [\d.]+\n\nencoder +knn_top1@5\n/);
    expect(out.text()).not.toMatch(/^(backend:|step \d|\[)/m);

    const evalOut = sink();
    const evalErr = sink();
    expect(await main(['eval', '--config', file, '--plain'], evalOut, evalErr)).toBe(0);
    expect(evalErr.text()).toMatch(/^\[eval\] loaded simclr from .* \(step 2\)$/m);
    expect(evalOut.text()).toMatch(/^\nevaluated .*plain \(checkpoint step 2\)\n\nencoder +knn_top1@5\n-+ +-+\nsimclr +\d+\.\d\d%\n\nwhat the numbers are:\n {2}knn: /);
  });

  it('--json prints one JSON document of the results on stdout and nothing else', async () => {
    const file = tinyRun('json');
    const out = sink();
    const err = sink();
    expect(await main(['train', '--config', file, '--json'], out, err)).toBe(0);
    const trained = JSON.parse(out.text()) as PrintedResults;
    expect(trained.outDir).toBe(join(root, 'json'));
    expect(trained.totalSteps).toBe(2);
    expect(trained.evaluations.map((e) => e.encoder)).toEqual(['simclr']);
    const knn = trained.evaluations[0].results[0];
    expect(knn.evaluator).toBe('knn');
    expect(err.text()).toMatch(/^backend: /m);

    const evalOut = sink();
    expect(await main(['eval', '--config', file, '--json'], evalOut, sink())).toBe(0);
    const evaluated = JSON.parse(evalOut.text()) as PrintedResults['evaluations'][number];
    expect(evaluated.encoder).toBe('simclr');
    // The same checkpoint, evaluator and data: the same kNN number as training reported.
    expect(evaluated.results[0].metrics).toEqual(knn.metrics);

    const plugins = sink();
    expect(await main(['plugins', 'loss', '--json'], plugins, sink())).toBe(0);
    const listed = JSON.parse(plugins.text()) as { kind: string; name: string; package: string; options: { name: string; default?: unknown }[] }[];
    expect(new Set(listed.map((p) => p.kind))).toEqual(new Set(['loss']));
    const ntXent = listed.find((p) => p.name === 'nt-xent');
    expect(ntXent?.package).toBe('@genview/losses');
    expect(ntXent?.options.find((o) => o.name === 'temperature')?.default).toBe(0.5);
  });

  it.skipIf(!existsSync(CLI))('the built CLI: stdout of --json parses whole; an argument error exits 2 with one line on stderr', () => {
    const file = tinyRun('spawned');
    const run = spawnSync(process.execPath, [CLI, 'train', '--config', file, '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as PrintedResults;
    expect(printed.evaluations[0].encoder).toBe('simclr');
    expect(run.stderr).toMatch(/^backend: /m);

    const bad = spawnSync(process.execPath, [CLI, 'train', '--set'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('genview: [BAD_ARGUMENT] genview train: --set needs a value. Fix: write --set path=value (e.g. --set trainer.epochs=5).\n');
    const version = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  }, 60_000);
});
