import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { type EvalResult, GenviewError } from '@genview/core';
import { ViewStore } from '@genview/views';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type RunConfig, runConfigSchema } from '../src/config/schema';
import { histogram, niceAxis } from '../src/report/charts';
import { main } from '../src/cli/main';
import { sink } from './output-sink';
import { type ReportSpecInput, buildReport, collectRuns, parseReportSpec } from '../src/report';
import { pngDataUrl } from '../src/report/thumbnail';
import type { TrainRunResult } from '../src/run/train';
import { JsonlLog } from '../src/trainer/metrics-log';

const STEPS_PER_EPOCH = 5;

/** A PNG's pixels as sharp reads them back: uint8 HWC, grey kept as one channel. */
async function decodePng(png: Buffer): Promise<{ width: number; height: number; channels: number; pixels: Uint8Array; format: string }> {
  const image = sharp(png, { failOn: 'error' });
  const { channels: stored, format } = await image.metadata();
  const { data, info } = await (stored === 1 ? image.toColourspace('b-w') : image).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, pixels: new Uint8Array(data), format };
}

function fromDataUrl(src: string): Buffer {
  expect(src.startsWith('data:image/png;base64,')).toBe(true);
  return Buffer.from(src.slice('data:image/png;base64,'.length), 'base64');
}

interface FakeRun {
  seed: number;
  knn: number;
  linear: number;
  random: [number, number];
  /** [step, loss] in the order the trainer appended them (a resumed run repeats steps). */
  losses: [number, number][];
}

function evalResults(knn: number, linear: number): EvalResult[] {
  return [
    { evaluator: 'knn', metrics: { 'knn_top1@20': knn, 'knn_top5@20': Math.min(1, knn + 0.1) }, description: 'k-NN (k=20, cosine) on frozen features' },
    {
      evaluator: 'linear-probe',
      metrics: { linear_top1: linear, linear_top5: Math.min(1, linear + 0.05), linear_l2: 0.001, 'linear_val_top1@l2=0.001': linear - 0.01 },
      description: 'softmax regression on frozen features',
    },
  ];
}

/** A run directory as `genview train` leaves it: metrics.jsonl through the trainer's logger, results.json as trainAndEvaluate writes it. */
function writeRun(dir: string, run: FakeRun): void {
  mkdirSync(dir, { recursive: true });
  const log = new JsonlLog(join(dir, 'metrics.jsonl'));
  for (const [step, loss] of run.losses) {
    const epoch = step / STEPS_PER_EPOCH;
    log.write({ step, epoch: Number(epoch.toFixed(4)), loss, lr: 0.03 * (1 - step / 40), imagesPerSecond: 812.5, gradNorm: 1.5 });
    // The monitor's kNN lines share the step numbers and must not enter the loss curve.
    if (step === 20) log.write({ step, epoch: Number(epoch.toFixed(4)), split: 'monitor', 'knn_top1@20': 0.5, 'knn_top5@20': 0.7 });
  }
  const config: RunConfig = runConfigSchema.parse({ seed: run.seed, outDir: dir });
  const result: TrainRunResult = {
    backend: { chosen: 'cpu', backendName: 'cpu', tried: [] },
    summary: { steps: 30, startStep: 0, finalLoss: run.losses[run.losses.length - 1][1], imagesPerSecond: 812.5, seconds: 3.2, cpuUserSeconds: 5.1, cpuSystemSeconds: 0.4, phaseSeconds: { data: 0.1, views: 0.4, quality: 0, lossAndGradients: 2.2, optimizer: 0.3, afterStep: 0, readBack: 0.1, checkpoint: 0.1, monitor: 0 } },
    totalSteps: 30,
    evaluations: [
      { encoder: 'moco-v2', results: evalResults(run.knn, run.linear) },
      { encoder: 'random encoder', results: evalResults(run.random[0], run.random[1]) },
      { encoder: 'raw pixels', results: evalResults(0.75, 0.78) },
    ],
    outDir: dir,
  };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify({ config, ...result }, null, 2)}\n`);
}

const RANDOM: Record<number, [number, number]> = { 0: [0.5, 0.6], 1: [0.52, 0.62], 2: [0.54, 0.61] };
const ARM_B = `+ adaptive <noise> & 'quality'`;

/** Two arms: A with seeds 0..2 (seed 1 resumed after a crash), B with seeds 0..1. Paths are relative to root. */
function makeRuns(root: string): ReportSpecInput {
  writeRun(join(root, 'runs/a0'), { seed: 0, knn: 0.8, linear: 0.85, random: RANDOM[0], losses: [[10, 3.0], [20, 2.0], [30, 1.0]] });
  writeRun(join(root, 'runs/a1'), { seed: 1, knn: 0.82, linear: 0.86, random: RANDOM[1], losses: [[10, 3.2], [20, 9.9], [20, 2.2], [30, 1.2]] });
  writeRun(join(root, 'runs/a2'), { seed: 2, knn: 0.84, linear: 0.9, random: RANDOM[2], losses: [[10, 3.4], [20, 2.4], [30, 1.4]] });
  writeRun(join(root, 'runs/b0'), { seed: 0, knn: 0.84, linear: 0.86, random: RANDOM[0], losses: [[10, 2.5], [20, 1.5]] });
  writeRun(join(root, 'runs/b1'), { seed: 1, knn: 0.88, linear: 0.86, random: RANDOM[1], losses: [[10, 2.7], [20, 1.7], [30, 1.0]] });
  return {
    title: 'GenView <ablation> on Fashion-MNIST',
    arms: [
      { name: 'MoCo v2 baseline', runs: ['runs/a0', 'runs/a1', 'runs/a2'] },
      { name: ARM_B, runs: ['runs/b0', 'runs/b1'] },
    ],
    notes: 'Seeds 0-2.\n\n<b>not bold</b> & friends',
  };
}

function synthPixels(index: number, k: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (index * 97 + k * 61 + i * 13) % 256);
}

/** A store of 5 images, 3 views each at noise levels 500, 0, 250, with shard 1 (images 2, 3) not written. */
async function makeStore(dir: string): Promise<void> {
  const shape: [number, number, number] = [4, 5, 1];
  const store = await ViewStore.create(dir, { dataset: 'synthetic', count: 5, viewsPerImage: 3, shardSize: 2, imageShape: shape, generator: { name: 'test-gen', configHash: 'abc' } });
  const noise = [500, 0, 250];
  for (const shard of [0, 2]) {
    const { start, end } = store.shardRange(shard);
    const views = [];
    for (let index = start; index < end; index++) {
      for (let k = 0; k < 3; k++) {
        views.push({ index, k, pixels: synthPixels(index, k, 20), params: { source: 'image' as const, noiseLevel: noise[k], seed: 1000 * index + k } });
      }
    }
    await store.writeShard(shard, views);
  }
}

function fullSpec(root: string): ReportSpecInput {
  writeFileSync(join(root, 'weights.json'), JSON.stringify([0.2, 0.6, 0.9, 1.0, 1.0, 1.1, 1.3, 1.9]));
  return { ...makeRuns(root), viewStores: [{ name: 'tiny <unCLIP>', dir: 'views', images: 3 }], qualityWeights: [{ name: 'fg/bg', file: 'weights.json' }] };
}

async function rejection(promise: Promise<unknown>): Promise<GenviewError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected a rejection');
}


function fresh(): string {
  return mkdtempSync(join(tmpdir(), 'genview-report-'));
}

describe('genview report: statistics', () => {
  it('gives mean ± sample std per arm and metric, baselines over distinct seeds, and loss curves by step', async () => {
    const root = fresh();
    const runs = await collectRuns(parseReportSpec(makeRuns(root)), root);
    // Only the headline numbers by default: no top-5, no chosen l2, no validation scores.
    expect(runs.metrics).toEqual(['knn_top1@20', 'linear_top1']);
    const [a, b] = runs.arms;
    expect(a.metrics['knn_top1@20']?.mean).toBeCloseTo(0.82, 12);
    expect(a.metrics['knn_top1@20']?.std).toBeCloseTo(0.02, 12);
    expect(a.metrics['knn_top1@20']?.n).toBe(3);
    // (0.02² + 0.01² + 0.03²) / 2 = 0.0007
    expect(a.metrics.linear_top1?.mean).toBeCloseTo(0.87, 12);
    expect(a.metrics.linear_top1?.std).toBeCloseTo(Math.sqrt(0.0007), 12);
    expect(b.metrics['knn_top1@20']?.mean).toBeCloseTo(0.86, 12);
    expect(b.metrics['knn_top1@20']?.std).toBeCloseTo(0.02 * Math.SQRT2, 12);
    expect(b.metrics.linear_top1?.std).toBe(0);

    // Arm B repeats seeds 0 and 1 of arm A, so the random encoder has three measurements, not five.
    expect(runs.baselines.map((r) => r.name)).toEqual(['random encoder', 'raw pixels']);
    const random = runs.baselines[0].metrics;
    expect(random['knn_top1@20']?.n).toBe(3);
    expect(random['knn_top1@20']?.mean).toBeCloseTo(0.52, 12);
    expect(random['knn_top1@20']?.std).toBeCloseTo(0.02, 12);
    expect(random.linear_top1?.std).toBeCloseTo(0.01, 12);
    expect(runs.baselines[1].metrics['knn_top1@20']).toEqual({ mean: 0.75, std: 0, n: 3 });

    // Seed 1's pre-crash step 20 (9.9) was replayed after resuming; the replay counts.
    const curveA = a.curve.map((p) => [p.step, Number(p.mean.toFixed(10)), Number(p.std?.toFixed(10)), p.n]);
    expect(curveA).toEqual([
      [10, 3.2, 0.2, 3],
      [20, 2.2, 0.2, 3],
      [30, 1.2, 0.2, 3],
    ]);
    expect(b.curve[2]).toEqual({ step: 30, mean: 1.0, std: null, n: 1 });
    expect(b.curve[0].mean).toBeCloseTo(2.6, 12);
    expect(b.curve[0].std).toBeCloseTo(0.1 * Math.SQRT2, 12);
  });

  it('splits a baseline per arm when the same seed measured differently (different backbones)', async () => {
    const root = fresh();
    const spec = makeRuns(root);
    writeRun(join(root, 'runs/b0'), { seed: 0, knn: 0.84, linear: 0.86, random: [0.3, 0.4], losses: [[10, 2.5]] });
    const runs = await collectRuns(parseReportSpec(spec), root);
    expect(runs.baselines.map((r) => r.name)).toEqual(['random encoder · MoCo v2 baseline', `random encoder · ${ARM_B}`, 'raw pixels']);
    expect(runs.baselines[1].metrics['knn_top1@20']?.mean).toBeCloseTo((0.3 + 0.52) / 2, 12);
  });

  it('knows its axes and bins', () => {
    expect(niceAxis(1.0, 3.4, 5).ticks).toEqual([1, 1.5, 2, 2.5, 3, 3.5]);
    expect(niceAxis(0, 30, 6).ticks).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceAxis(0.1, 0.3, 4).ticks).toEqual([0.1, 0.15, 0.2, 0.25, 0.3]);
    expect(histogram([0, 0.1, 0.5, 0.99, 1.0], 0, 1, 4).counts).toEqual([2, 0, 1, 2]);
    // 1.2 starts bin 7 of [0.5, 1.5]; dividing by a rounded bin width would put it in bin 6.
    expect(histogram([1.2, 1.4], 0.5, 1.5, 10).counts).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
  });

  it('round-trips its PNG thumbnails, as grey, RGB and RGBA PNGs, and refuses a wrong pixel count', async () => {
    for (const channels of [1, 3, 4]) {
      const pixels = synthPixels(3, channels, 7 * 6 * channels);
      const png = fromDataUrl(await pngDataUrl(pixels, 7, 6, channels));
      const decoded = await decodePng(png);
      expect([decoded.format, decoded.width, decoded.height, decoded.channels]).toEqual(['png', 7, 6, channels]);
      expect(Buffer.from(decoded.pixels).equals(Buffer.from(pixels))).toBe(true);
      // PNG colour type (byte 25 of the IHDR): grey stays grey, not RGB at three times the size.
      expect(png[25]).toBe({ 1: 0, 3: 2, 4: 6 }[channels]);
    }
    await expect(pngDataUrl(new Uint8Array(10), 7, 6, 1)).rejects.toThrowError(/BAD_SHAPE.*cannot encode 10 bytes as a 7x6x1 PNG/);
  });
});

describe('genview report: HTML', () => {
  it('renders the table with escaped names and the best arm in bold, the loss SVG, views and weights', async () => {
    const root = fresh();
    const spec = fullSpec(root);
    await makeStore(join(root, 'views'));
    const outFile = join(root, 'out', 'report.html');
    const { data } = await buildReport(spec, { outFile, baseDir: root });
    const html = readFileSync(outFile, 'utf8');

    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<title>GenView &lt;ablation&gt; on Fashion-MNIST</title>');
    expect(html).toContain('<p class="notes">&lt;b&gt;not bold&lt;/b&gt; &amp; friends</p>');
    expect(html).not.toContain('<noise>');
    expect(html).not.toContain('<b>');
    // Self-contained: nothing to fetch, nothing to run.
    expect(html).not.toMatch(/<script|<link|src="(?!data:)|url\(|@import|https?:/i);

    const rows = html.match(/<tr>.*?<\/tr>/g) ?? [];
    const rowA = rows.find((r) => r.includes('MoCo v2 baseline</td>'));
    const rowB = rows.find((r) => r.includes('+ adaptive &lt;noise&gt; &amp; &#39;quality&#39;</td>'));
    expect(rowA).toContain('<td class="num">3</td>');
    expect(rowA).toContain('<td class="num">82.00 <span class="pm">± 2.00</span></td>');
    expect(rowA).toContain('<strong>87.00 <span class="pm">± 2.65</span></strong>');
    expect(rowB).toContain('<td class="num">2</td>');
    expect(rowB).toContain('<strong>86.00 <span class="pm">± 2.83</span></strong>');
    expect(rowB).toContain('<td class="num">86.00 <span class="pm">± 0.00</span></td>');
    expect(html).toContain('<tr class="baseline"><td>random encoder</td><td class="num">3</td><td class="num">52.00 <span class="pm">± 2.00</span></td>');
    expect(html).toContain('<th class="num">knn_top1@20 (%)</th>');
    expect(html).toContain('k-NN (k=20, cosine) on frozen features');

    // x: 0..30 over [64, 744]; y: 1.0..3.5 over [276, 12]. Arm A's mean losses 3.2, 2.2, 1.2 at steps 10, 20, 30.
    const polylines = [...html.matchAll(/<polyline class="curve" stroke="([^"]+)"[^>]*points="([^"]+)"/g)];
    expect(polylines).toHaveLength(2);
    expect(polylines[0][2]).toBe('290.67,43.68 517.33,149.28 744.00,254.88');
    expect(polylines[1][1]).not.toBe(polylines[0][1]);
    expect(html).toContain('MoCo v2 baseline — final 1.2000 at step 30');

    // Views: rows are the images of complete shards (0, 1 and 4), each row ordered by noise level.
    const grid = data.viewGrids[0];
    expect(grid.rows.map((r) => r.index)).toEqual([0, 1, 4]);
    expect(grid.rows[2].cells.map((c) => c.k)).toEqual([1, 2, 0]);
    const cell = grid.rows[2].cells[1];
    const png = await decodePng(fromDataUrl(cell.src));
    expect([png.width, png.height, png.channels]).toEqual([5, 4, 1]);
    expect(Buffer.from(png.pixels).equals(Buffer.from(synthPixels(4, 2, 20)))).toBe(true);
    expect(html).toContain('<h3>tiny &lt;unCLIP&gt;</h3>');
    expect(html).toContain('2 of 3 shards complete');
    expect((html.match(/<img src="data:image\/png;base64,/g) ?? []).length).toBe(9);
    expect(html.indexOf('<figcaption>noise 0</figcaption>')).toBeLessThan(html.indexOf('<figcaption>noise 250</figcaption>'));

    // Weights: 8 values, mean 1.0.
    expect(html).toContain('n 8 · mean 1.0000');
    expect(html).toContain('<rect class="bar"');
  });

  it('writes the same bytes for the same inputs', async () => {
    const root = fresh();
    const spec = fullSpec(root);
    await makeStore(join(root, 'views'));
    await buildReport(spec, { outFile: join(root, 'one.html'), baseDir: root });
    await buildReport(spec, { outFile: join(root, 'two.html'), baseDir: root });
    expect(readFileSync(join(root, 'one.html')).equals(readFileSync(join(root, 'two.html')))).toBe(true);
  });
});

describe('genview report: grouped weights and tables', () => {
  it('draws one colour per group with per-group quantiles, renders spec tables, and clips the axis at the 99.5 % quantile', async () => {
    const root = fresh();
    // 200 clean weights near 1, 199 corrupted near 0.5, and one corrupted outlier at 50 that would squeeze the axis.
    const clean = Array.from({ length: 200 }, (_, i) => 0.9 + (0.2 * i) / 199);
    const corrupted = [...Array.from({ length: 199 }, (_, i) => 0.4 + (0.2 * i) / 198), 50];
    writeFileSync(join(root, 'w.json'), JSON.stringify([...clean, ...corrupted]));
    writeFileSync(join(root, 'g.json'), JSON.stringify([...clean.map(() => 'clean'), ...corrupted.map(() => 'corrupted <999>')]));
    const spec: ReportSpecInput = {
      ...makeRuns(root),
      qualityWeights: [{ name: 'p50 γ=4', file: 'w.json', groups: 'g.json' }],
      tables: [{ name: 'ROC AUC', columns: ['store', 'AUC'], rows: [['p25 <x>', '0.987'], ['p50', 0.982]], caption: 'fg only' }],
    };
    const { data } = await buildReport(spec, { outFile: join(root, 'r.html'), baseDir: root });
    const html = readFileSync(join(root, 'r.html'), 'utf8');
    expect(data.weights[0].groups?.length).toBe(400);
    expect(html).toContain('<h3>ROC AUC</h3><table class="results"><thead><tr><th>store</th><th>AUC</th></tr></thead><tbody><tr><td>p25 &lt;x&gt;</td><td>0.987</td></tr><tr><td>p50</td><td class="num">0.982</td></tr></tbody></table><p class="caption">fg only</p>');
    // Per-group statistics: the clean group's median is 1.0 (nearest rank), the corrupted one's 0.5.
    expect(html).toMatch(/clean: n 200 · mean 1\.0000 · std [0-9.]+ · min 0\.9000 · 5\/25\/50\/75\/95 % 0\.910 \/ 0\.950 \/ 1\.001 \/ 1\.050 \/ 1\.090 · max 1\.1000/);
    expect(html).toContain('corrupted &lt;999&gt;: n 200');
    const fills = new Set([...html.matchAll(/<rect class="bar" style="fill:([^"]+)"/g)].map((m) => m[1]));
    expect(fills.size).toBe(2);
    // The outlier is past the 99.5 % quantile: the axis stops near 1.1, not at 50.
    expect(html).toContain('the axis ends at the 99.5 % quantile of all weights (1.099)');
    expect(html).not.toMatch(/class="tick"[^>]*>50</);
    // Groups are sorted by name, and none takes the mean line's orange.
    expect(html).toContain('<span class="swatch" style="background:#0072b2"></span>clean: n 200');
    expect(html).toContain('<span class="swatch" style="background:#009e73"></span>corrupted &lt;999&gt;: n 200');
    expect(fills.has('#d55e00')).toBe(false);

    await buildReport({ ...spec, weightsAxis: 'per-set' }, { outFile: join(root, 'own.html'), baseDir: root });
    const own = readFileSync(join(root, 'own.html'), 'utf8');
    expect(own).toContain('24 equal bins on one axis per set');
    expect(own).toContain('axis cut at the 99.5 % quantile (1.099)');
  });

  it('rejects a groups file whose length differs from the weights, naming both', async () => {
    const root = fresh();
    writeFileSync(join(root, 'w.json'), JSON.stringify([1, 2, 3]));
    writeFileSync(join(root, 'g.json'), JSON.stringify(['a', 'b']));
    const error = await rejection(buildReport({ ...makeRuns(root), qualityWeights: [{ name: 'w', file: 'w.json', groups: 'g.json' }] }, { outFile: join(root, 'r.html'), baseDir: root }));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toContain('hold 2 names for 3 weights');
    expect(error.fix).toContain('3 strings');
    expect(() => parseReportSpec({ ...makeRuns(root), tables: [{ name: 't', columns: ['a', 'b'], rows: [['x']] }] })).toThrow(/one cell per column/);
  });
});

describe('genview report: errors and the command', () => {
  it('names the missing results.json, its run and the fix', async () => {
    const root = fresh();
    const spec = makeRuns(root);
    rmSync(join(root, 'runs/b1/results.json'));
    const error = await rejection(buildReport(spec, { outFile: join(root, 'r.html'), baseDir: root }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(join(root, 'runs/b1/results.json'));
    expect(error.message).toContain('results.json is missing');
    expect(error.message).toContain('genview train');
    expect(error.message).toContain(`remove runs/b1 from arm "${ARM_B}"`);
  });

  it('names the file and line of a damaged metrics.jsonl, and unknown metrics', async () => {
    const root = fresh();
    const spec = makeRuns(root);
    const log = join(root, 'runs/a2/metrics.jsonl');
    const lines = readFileSync(log, 'utf8').split('\n');
    lines[1] = '{"step":20,"epo';
    writeFileSync(log, lines.join('\n'));
    const damaged = await rejection(buildReport(spec, { outFile: join(root, 'r.html'), baseDir: root }));
    expect(damaged.code).toBe('UNREADABLE_FILE');
    expect(damaged.message).toContain(`${log}:2`);

    const root2 = fresh();
    const unknown = await rejection(buildReport({ ...makeRuns(root2), metrics: ['knn_top1@200'] }, { outFile: join(root2, 'r.html'), baseDir: root2 }));
    expect(unknown.message).toContain('no run reports "knn_top1@200"');
    expect(unknown.message).toContain('knn_top1@20, knn_top5@20, linear_top1');
  });

  it('reads a YAML spec with paths relative to it and returns exit codes', async () => {
    const root = fresh();
    makeRuns(root);
    const specFile = join(root, 'report.yaml');
    writeFileSync(
      specFile,
      [
        'title: Fashion-MNIST ablation',
        'arms:',
        '  - name: MoCo v2 baseline',
        '    runs: [runs/a0, runs/a1, runs/a2]',
        '  - name: + generated views',
        '    runs: [runs/b0, runs/b1]',
        'metrics: [linear_top1]',
        '',
      ].join('\n'),
    );
    const outFile = join(root, 'html', 'report.html');
    const out = sink();
    const err = sink();
    expect(await main(['report', '--spec', specFile, '--out', outFile], out, err)).toBe(0);
    expect(out.text()).toMatch(/^report .*report\.html: 2 arms, 5 runs, \d+ KiB\n$/);
    const html = readFileSync(outFile, 'utf8');
    expect(html).toContain('<th class="num">linear_top1 (%)</th>');
    expect(html).not.toContain('knn_top1@20 (%)');

    const json = sink();
    expect(await main(['report', '--spec', specFile, '--out', outFile, '--json'], json, sink())).toBe(0);
    expect(JSON.parse(json.text())).toEqual({
      outFile,
      bytes: Buffer.byteLength(html),
      arms: [
        { name: 'MoCo v2 baseline', runs: 3 },
        { name: '+ generated views', runs: 2 },
      ],
    });

    const usage = sink();
    expect(await main(['report', '--spec', specFile], sink(), usage)).toBe(2);
    expect(usage.text()).toMatch(/\[BAD_ARGUMENT\] genview report: --out is required\. Fix: e\.g\. genview report --spec report\.yaml --out report\.html/);

    writeFileSync(specFile, 'title: x\narms: []\n');
    const invalid = sink();
    expect(await main(['report', '--spec', specFile, '--out', outFile], sink(), invalid)).toBe(2);
    expect(invalid.text()).toMatch(/invalid report spec:\n {2}arms: /);
    // A failed build leaves the previous report in place.
    expect(readFileSync(outFile, 'utf8')).toBe(html);
  });
});

/** The first of these on PATH, or undefined. */
function findOnPath(names: string[]): string | undefined {
  for (const name of names) {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not in this directory
      }
    }
  }
  return undefined;
}

const chromium = findOnPath(['chromium', 'chromium-browser']);
const skipReason = chromium ? '' : ' [skipped: neither chromium nor chromium-browser is on PATH; apt-get install chromium]';

describe('genview report: in a browser', () => {
  it.skipIf(!chromium)(`renders to a non-blank 1200x1600 screenshot in headless chromium${skipReason}`, { timeout: 120_000 }, async () => {
    const root = fresh();
    const spec = fullSpec(root);
    await makeStore(join(root, 'views'));
    const report = join(root, 'report.html');
    await buildReport(spec, { outFile: report, baseDir: root });
    const shot = join(root, 'shot.png');
    await promisify(execFile)(
      chromium as string,
      ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${join(root, 'profile')}`, `--screenshot=${shot}`, '--window-size=1200,1600', `file://${report}`],
      { timeout: 90_000 },
    );
    const bytes = readFileSync(shot);
    const { pixels, channels, width, height } = await decodePng(bytes);
    expect({ width, height }).toEqual({ width: 1200, height: 1600 });
    const count = pixels.length / channels;
    let inked = 0;
    let coloured = 0;
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < count; i++) {
      const [r, g, b] = [pixels[i * channels], pixels[i * channels + 1], pixels[i * channels + 2]];
      const luma = (r + g + b) / 3;
      sum += luma;
      sumSquares += luma * luma;
      if (luma < 200) inked++;
      // Only the curves, swatches, bars and the mean line are saturated; text and tables are grey.
      if (Math.max(r, g, b) - Math.min(r, g, b) > 80) coloured++;
    }
    const variance = sumSquares / count - (sum / count) ** 2;
    expect(inked / count).toBeGreaterThan(0.01);
    expect(coloured).toBeGreaterThan(500);
    expect(variance).toBeGreaterThan(100);
  });
});
