// Generation benchmark: image variations from GenView's own small unCLIP pipeline on onnxruntime-node
// vs the same networks and weights in PyTorch CPU (bench/generate_torch.py), in the same run, same
// threads, batch, steps and guidance. Prints images/s, the ratio, and the time per part.
//
//   npm run bench:generate
//   node bench/generate.mjs --images 64 --batch 16 --steps 20 --threads 2
//
// The PyTorch side needs Debian's python3-torch and the weights tools/diffusion/tiny_unclip/train.py
// saved beside the export (packages/model-tiny-unclip/pipeline/../weights/tiny-unclip.pt).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  return args;
}

const args = parseArgs(process.argv.slice(2));
const images = Number(args.images ?? 64);
const batch = Number(args.batch ?? 16);
const steps = Number(args.steps ?? 20);
const guidance = Number(args.guidance ?? 3);
const threads = Number(args.threads ?? 2);
const repeats = Number(args.repeats ?? 2);

async function onnxRuntime() {
  const { tf, Rng, selectBackend } = await import('@genview/core');
  await selectBackend();
  const { OnnxDiffusionPipeline } = await import('@genview/views');
  const { tinyUnclipPath } = await import('@genview/model-tiny-unclip');
  const pipeline = await OnnxDiffusionPipeline.load(tinyUnclipPath, { steps, guidanceScale: guidance, threads, batchSize: batch, scheduler: 'ddim' });
  const rng = new Rng(0);
  const sources = Array.from({ length: images }, () => tf.tensor3d(rng.uniformArray(784), [28, 28, 1]));
  const requests = sources.map((image, i) => ({ source: 'image', image, seed: i, noiseLevel: 0 }));
  let seconds = 0;
  for (let r = 0; r <= repeats; r++) {
    if (r === 1) pipeline.resetTimings();
    const started = performance.now();
    const views = await pipeline.generate(requests);
    if (r > 0) seconds += (performance.now() - started) / 1000;
    for (const v of views) v.image.dispose();
  }
  const parts = Object.fromEntries(Object.entries(pipeline.timings).map(([k, v]) => [k, v / repeats]));
  await pipeline.dispose();
  return { images_per_s: (images * repeats) / seconds, seconds: seconds / repeats, parts };
}

function pytorch() {
  const weights = fileURLToPath(new URL('../tools/diffusion/tiny_unclip/weights/tiny-unclip.pt', import.meta.url));
  if (!existsSync(weights)) return { skipped: `no PyTorch weights at ${weights}` };
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = fileURLToPath(new URL('./generate_torch.py', import.meta.url));
  const run = spawnSync(python, ['-W', 'ignore', script, weights, String(images), String(batch), String(steps), String(guidance), String(threads), String(repeats)], { encoding: 'utf8' });
  if (run.status !== 0) return { skipped: `PyTorch run failed (install Debian's python3-torch): ${run.stderr.trim().split('\n').pop()}` };
  return JSON.parse(run.stdout.trim().split('\n').pop());
}

const ort = await onnxRuntime();
const torch = pytorch();
const fmt = (parts) =>
  Object.entries(parts ?? {})
    .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
    .join(', ');
console.log(`generation: ${images} image variations, batch ${batch}, ${steps} DDIM steps, guidance ${guidance} (doubled UNet batch), ${threads} threads`);
console.log(`onnxruntime-node  ${ort.images_per_s.toFixed(1)} img/s  (${fmt(ort.parts)})`);
if (torch.skipped) {
  console.log(`pytorch           skipped: ${torch.skipped}`);
} else {
  console.log(`pytorch CPU       ${torch.images_per_s.toFixed(1)} img/s  (${fmt(torch.parts)})`);
  console.log(`ratio onnxruntime / pytorch: ${(ort.images_per_s / torch.images_per_s).toFixed(2)}x  (target >= 1.3x)`);
}
