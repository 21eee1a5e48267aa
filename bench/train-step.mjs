// SimCLR train-step benchmark: forward + backward + Adam on the bench models, on every TensorFlow.js
// rung that loads here and on PyTorch CPU (bench/train_step_torch.py) in the same run.
//
//   npm run bench:train                     all rungs, both models
//   node bench/train-step.mjs --models small-cnn --rungs native,wasm --steps 5
//
// Each (model, rung) runs in a child process so its peak RSS is its own. img/s counts every image the
// step processes (both views). `npm run bench:train` builds @genview/core and the native rung first.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const THREADS = 2;
const MODELS = {
  'small-cnn': { pairs: 256, steps: 5, warmup: 2, slowSteps: 1 },
  resnet18: { pairs: 32, steps: 3, warmup: 1, slowSteps: 1 },
};

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) args[a.slice(2)] = true;
      else {
        args[a.slice(2)] = next;
        i++;
      }
    }
  }
  return args;
}

async function child(args) {
  // The built @genview/core: its tf has every gradient registered and its ladder loads each rung
  // exactly as users get it (wasm with GenView's training kernels, native from the built addon).
  const { tf, selectBackend } = await import('@genview/core');
  const { smallCnn, resnet18, simclrTrainStep } = await import('./models.mjs');
  const rung = args.rung;
  await selectBackend({ force: rung });
  if (rung === 'native') (await import('@genview/backend-native')).setNativeThreads(THREADS);
  await tf.ready();
  const spec = MODELS[args.model];
  const model = args.model === 'resnet18' ? resnet18(tf, 1) : smallCnn(tf, 1);
  const pairs = Number(args.pairs ?? spec.pairs);
  const { step, images: n } = simclrTrainStep(tf, model, pairs);
  const warmup = Number(args.warmup);
  const steps = Number(args.steps);
  const t0 = performance.now();
  for (let i = 0; i < warmup; i++) step();
  const warmupMs = performance.now() - t0;
  const tensorsBefore = tf.memory().numTensors;
  const profile = args.profile ? await tf.profile(() => step()) : null;
  const c1 = process.cpuUsage();
  const t1 = performance.now();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = step();
  const ms = (performance.now() - t1) / steps;
  const cpu = process.cpuUsage(c1);
  const result = {
    model: args.model,
    rung,
    backend: tf.getBackend(),
    images: n,
    steps,
    msPerStep: ms,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
    imgPerSec: (n * 1000) / ms,
    warmupMs,
    loss,
    tensorLeak: tf.memory().numTensors - tensorsBefore,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
  if (profile) {
    const byKernel = new Map();
    for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + k.kernelTimeMs);
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    result.profile = [...byKernel.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([name, msK]) => ({ name, ms: Math.round(msK), share: Math.round((1000 * msK) / total) / 10 }));
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function runChild(model, rung, steps, warmup, extra) {
  const script = fileURLToPath(import.meta.url);
  const argv = [script, '--child', '--model', model, '--rung', rung, '--steps', String(steps), '--warmup', String(warmup), ...extra];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(THREADS), GENVIEW_NATIVE_THREADS: String(THREADS) };
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return { model, rung, error: why || `exit ${r.status}` };
  }
  return JSON.parse(line.slice(7));
}

function runTorch(models, stepsOverride) {
  const python = ['/usr/bin/python3', 'python3'].find((p) => p === 'python3' || existsSync(p));
  const script = fileURLToPath(new URL('./train_step_torch.py', import.meta.url));
  const results = [];
  for (const model of models) {
    const spec = MODELS[model];
    try {
      const out = execFileSync(
        python,
        [script, '--model', model, '--pairs', String(spec.pairs), '--steps', String(stepsOverride ?? spec.steps), '--warmup', String(spec.warmup), '--threads', String(THREADS)],
        { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      results.push(JSON.parse(line.slice(7)));
    } catch (error) {
      const msg = String(error.stderr || error.message).trim().split('\n').slice(-1)[0];
      results.push({ model, rung: 'pytorch', error: `${msg} (install python3-torch: apt-get install python3-torch)` });
    }
  }
  return results;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args);
  const models = String(args.models ?? 'small-cnn,resnet18').split(',');
  const rungs = String(args.rungs ?? 'native,wasm,cpu').split(',');
  const stepsOverride = args.steps ? Number(args.steps) : undefined;
  const extra = args.profile ? ['--profile'] : [];
  const rows = [];
  for (const r of runTorch(models, stepsOverride)) rows.push(r);
  for (const model of models) {
    const spec = MODELS[model];
    for (const rung of rungs) {
      // The plain-JS cpu rung is ~100x slower than PyTorch: one small step on the small CNN only.
      if (rung === 'cpu' && model !== 'small-cnn') continue;
      const slow = rung === 'wasm' || rung === 'cpu';
      const steps = stepsOverride ?? (slow ? spec.slowSteps : spec.steps);
      const warmup = slow ? 1 : spec.warmup;
      const more = rung === 'cpu' ? ['--pairs', '8', ...extra] : extra;
      rows.push(runChild(model, rung, steps, warmup, more));
    }
  }
  const torch = new Map(rows.filter((r) => r.rung === 'pytorch' && !r.error).map((r) => [r.model, r.imgPerSec]));
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`SimCLR train step (forward+backward+Adam), ${THREADS} threads; img/s counts both views.`);
  console.log('cpu ms/step is user+sys CPU time: on a shared machine it shows the work done when wall time is noisy.');
  console.log(`${pad('model', 10)} ${pad('rung', 8)} ${pad('batch', 6)} ${pad('ms/step', 9)} ${pad('cpu ms', 8)} ${pad('img/s', 8)} ${pad('vs torch', 9)} ${pad('peak RSS', 9)} loss / note`);
  for (const r of rows) {
    if (r.error) {
      console.log(`${pad(r.model, 10)} ${pad(r.rung, 8)} unavailable: ${r.error}`);
      continue;
    }
    const ratio = torch.get(r.model) ? (r.imgPerSec / torch.get(r.model)).toFixed(2) : '-';
    const note = r.tensorLeak ? ` (tensor leak ${r.tensorLeak}/step)` : '';
    console.log(
      `${pad(r.model, 10)} ${pad(r.rung, 8)} ${pad(r.images, 6)} ${pad(r.msPerStep.toFixed(0), 9)} ${pad(r.cpuMsPerStep.toFixed(0), 8)} ${pad(r.imgPerSec.toFixed(1), 8)} ${pad(ratio, 9)} ${pad(`${r.peakRssMb.toFixed(0)} MB`, 9)} ${r.loss.toFixed(4)}${note}`,
    );
    if (r.profile) {
      console.log(`    profile: ${r.profile.map((p) => `${p.name} ${p.share}%`).join(', ')}`);
    }
  }
}

await main();
