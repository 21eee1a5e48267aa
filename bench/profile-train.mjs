// Where a `genview train` step spends its time, kernel by kernel: runs the real trainFromConfig on a
// config for a few steps and wraps one step (after warm-up) in tf.profile.
//
//   node bench/profile-train.mjs                                   the bench:e2e reference recipe
//   node bench/profile-train.mjs --config examples/configs/simclr-fashion-mnist.yaml --step 5
//
// Prints the step's kernels summed by name (ms, share, calls) and the Trainer's phase times.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    config: { type: 'string', default: fileURLToPath(new URL('./configs/simclr-reference.yaml', import.meta.url)) },
    step: { type: 'string', default: '3' },
    top: { type: 'string', default: '25' },
  },
});

const { tf } = await import('@genview/core');
const { Trainer, loadRunConfig, trainFromConfig } = await import('@genview/runner');

const profiled = Number(opts.step);
const outDir = mkdtempSync(join(tmpdir(), 'genview-profile-'));
const originalStep = Trainer.prototype.step;
let report = null;
Trainer.prototype.step = async function (step, keep) {
  if (step !== profiled) return originalStep.call(this, step, keep);
  let result;
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    result = await originalStep.call(this, step, keep);
  });
  report = { ms: performance.now() - t0, kernels: info.kernels };
  return result;
};

const config = loadRunConfig({
  path: opts.config,
  overrides: [`outDir=${outDir}`, `trainer.steps=${profiled + 2}`, 'eval.evaluators=[{name: knn, k: [20], limitTrain: 500, limitTest: 100}]', 'eval.baselines=false'],
});
const result = await trainFromConfig(config);
rmSync(outDir, { recursive: true, force: true });

const byName = new Map();
for (const k of report.kernels) {
  const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
  entry.ms += k.kernelTimeMs;
  entry.calls += 1;
  byName.set(k.name, entry);
}
const kernelMs = [...byName.values()].reduce((a, b) => a + b.ms, 0);
console.log(`step ${profiled} on ${result.backend.chosen}: ${report.ms.toFixed(0)} ms wall under tf.profile, ${kernelMs.toFixed(0)} ms in ${report.kernels.length} kernels`);
for (const [name, { ms, calls }] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(opts.top))) {
  console.log(`${name.padEnd(28)} ${ms.toFixed(1).padStart(8)} ms ${((100 * ms) / kernelMs).toFixed(1).padStart(5)} %  ${String(calls).padStart(4)} calls`);
}
console.log('\nslowest single calls:');
for (const k of [...report.kernels].sort((a, b) => b.kernelTimeMs - a.kernelTimeMs).slice(0, Number(opts.top))) {
  console.log(`${k.name.padEnd(28)} ${k.kernelTimeMs.toFixed(1).padStart(8)} ms  in ${k.inputShapes.map((s) => JSON.stringify(s)).join(' ')} -> ${k.outputShapes.map((s) => JSON.stringify(s)).join(' ')}`);
}
const { summary } = result;
console.log(
  `phases over ${summary.steps} steps (ms/step): ${Object.entries(summary.phaseSeconds)
    .map(([p, s]) => `${p} ${((1000 * s) / summary.steps).toFixed(0)}`)
    .join(' · ')}`,
);
