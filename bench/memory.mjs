// Memory-growth check for the training engine: the small-CNN SimCLR train step of bench/train-step.mjs
// (same model, loss, optimiser: bench/models.mjs) for many steps on the best rung, in a child process
// started with --expose-gc. RSS and tf.memory().numTensors are sampled after a gc at an early step and
// at the last step; the check passes when RSS grew by at most 5 % and numTensors did not change.
//
//   node bench/memory.mjs                            500 steps, sampled at 50 and 500, batch 64
//   node bench/memory.mjs --steps 20 --early 5       a quick smoke run
//   node bench/memory.mjs --rung wasm --pairs 64 --threads 1 --max-growth 5
//
// The batch is 32 pairs x 2 views = 64 images (train-step.mjs uses 256 pairs) so 500 steps take about a
// minute on the native rung; --pairs changes it. Exit code: 0 PASS, 1 FAIL, 2 the child failed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    model: { type: 'string', default: 'small-cnn' },
    rung: { type: 'string', default: '' },
    pairs: { type: 'string', default: '32' },
    steps: { type: 'string', default: '500' },
    early: { type: 'string', default: '50' },
    every: { type: 'string', default: '50' },
    threads: { type: 'string', default: '2' },
    'max-growth': { type: 'string', default: '5' },
  },
});

const mb = (bytes) => bytes / (1 << 20);

function sample(tf, step) {
  // Two passes: the first can free objects whose finalisers release more on the second.
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const m = process.memoryUsage();
  const t = tf.memory();
  return { step, rss: m.rss, heapUsed: m.heapUsed, external: m.external, numTensors: t.numTensors, numBytes: t.numBytes };
}

async function child() {
  const { tf, selectBackend } = await import('@genview/core');
  const { smallCnn, resnet18, simclrTrainStep } = await import('./models.mjs');
  const threads = Number(opts.threads);
  const report = await selectBackend(opts.rung ? { force: opts.rung } : {});
  if (report.chosen === 'native') (await import('@genview/backend-native')).setNativeThreads(threads);
  await tf.ready();
  const model = opts.model === 'resnet18' ? resnet18(tf, 1) : smallCnn(tf, 1);
  const pairs = Number(opts.pairs);
  const steps = Number(opts.steps);
  const early = Number(opts.early);
  const every = Number(opts.every);
  const { step, images } = simclrTrainStep(tf, model, pairs);
  const samples = [];
  let loss = 0;
  const t0 = performance.now();
  for (let i = 1; i <= steps; i++) {
    loss = step();
    if (i === early || i === steps || i % every === 0) samples.push(sample(tf, i));
  }
  const result = {
    model: opts.model,
    rung: report.chosen,
    backend: tf.getBackend(),
    gc: typeof globalThis.gc === 'function',
    threads,
    images,
    steps,
    seconds: (performance.now() - t0) / 1000,
    loss,
    samples,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function main() {
  const threads = opts.threads;
  const argv = ['--expose-gc', fileURLToPath(import.meta.url), '--child'];
  for (const key of ['model', 'rung', 'pairs', 'steps', 'early', 'every', 'threads']) argv.push(`--${key}`, String(opts[key]));
  const env = { ...process.env, OPENBLAS_NUM_THREADS: threads, GENVIEW_NATIVE_THREADS: threads, OMP_NUM_THREADS: threads };
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter(Boolean).slice(-5).join('\n  ');
    console.error(`memory check: the child failed (exit ${r.status}):\n  ${why}`);
    process.exit(2);
  }
  const res = JSON.parse(line.slice(7));
  const early = Number(opts.early);
  const first = res.samples.find((s) => s.step === early);
  const last = res.samples.find((s) => s.step === res.steps);
  const maxGrowth = Number(opts['max-growth']);
  console.log(
    `Memory check: ${res.model} SimCLR train step (forward+backward+Adam), batch ${res.images} (${res.images / 2} pairs x 2 views), ` +
      `${res.steps} steps on rung ${res.rung} (${res.backend}), ${res.threads} threads, ${res.seconds.toFixed(1)} s, final loss ${res.loss.toFixed(4)}.`,
  );
  console.log(`Samples taken after ${res.gc ? 'gc() (node --expose-gc)' : 'NO gc (gc not exposed)'}:`);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`  ${pad('step', 6)} ${pad('RSS MB', 9)} ${pad('heap MB', 9)} ${pad('external MB', 12)} ${pad('numTensors', 11)} tf MB`);
  for (const s of res.samples) {
    console.log(
      `  ${pad(s.step, 6)} ${pad(mb(s.rss).toFixed(1), 9)} ${pad(mb(s.heapUsed).toFixed(1), 9)} ${pad(mb(s.external).toFixed(1), 12)} ${pad(s.numTensors, 11)} ${mb(s.numBytes).toFixed(1)}`,
    );
  }
  if (!first || !last || first === last) {
    console.error(`memory check: need samples at step ${early} and a later last step (got steps ${res.samples.map((s) => s.step).join(', ')}).`);
    process.exit(2);
  }
  const growth = (100 * (last.rss - first.rss)) / first.rss;
  const rssOk = growth <= maxGrowth;
  const tensorsOk = last.numTensors === first.numTensors;
  console.log(
    `RSS step ${first.step} -> ${last.step}: ${mb(first.rss).toFixed(1)} -> ${mb(last.rss).toFixed(1)} MB, growth ${growth >= 0 ? '+' : ''}${growth.toFixed(2)} % ` +
      `(limit ${maxGrowth} %): ${rssOk ? 'PASS' : 'FAIL'}`,
  );
  console.log(`numTensors step ${first.step} -> ${last.step}: ${first.numTensors} -> ${last.numTensors}: ${tensorsOk ? 'PASS (constant)' : 'FAIL (changed)'}`);
  const ok = rssOk && tensorsOk;
  console.log(ok ? 'PASS' : 'FAIL');
  process.exit(ok ? 0 : 1);
}

if (opts.child) await child();
else main();
