// Memory of the image-folder dataset on folders of two sizes: does peak RSS stay flat as the folder grows?
//
// Folders of small PNGs (random noise, so nothing compresses away) are written by code, then each is read
// for one epoch in a child process (node --expose-gc, a fresh heap per measurement) the way the Trainer
// reads it: the runner's BatchOrder gives each step's indices, read(step) then prefetch(step + 1), a small
// tf op on the batch, the batch disposed. Two loaders, measured in the same run:
//   stream  the library's image-folder plugin (on-demand decode, LRU cache of --cache images)
//   eager   the reference: every image decoded up front into one uint8 array (what image-folder did before
//           it streamed), read through inMemoryDataset with the same access pattern
// For each it prints peak RSS (getrusage maxrss) and RSS growth over the process's RSS before loading;
// then the ratios: growth large / growth small per loader, and stream's large-folder growth against the
// eager decoded size N*H*W*C (uint8) and N*H*W*C*4 (the float32 tensor an eager copy as float would need).
//
//   node bench/folder-memory.mjs                                2,000 and 20,000 images, decoded to 64x64x3
//   node bench/folder-memory.mjs --sizes 500,5000 --size 32     a quick run
//   node bench/folder-memory.mjs --loaders stream               stream only
//
// Exit code 0: stream's RSS growth from the small to the large folder is below --max-growth-mb; 1: it is not; 2: a child failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    dir: { type: 'string', default: '' },
    loader: { type: 'string', default: 'stream' },
    rung: { type: 'string', default: 'cpu' },
    loaders: { type: 'string', default: 'stream,eager' },
    sizes: { type: 'string', default: '2000,20000' },
    source: { type: 'string', default: '32' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '256' },
    cache: { type: 'string', default: '1024' },
    concurrency: { type: 'string', default: '4' },
    'max-growth-mb': { type: 'string', default: '64' },
    keep: { type: 'boolean', default: false },
  },
});

const MB = 1 << 20;
const mb = (bytes) => (bytes / MB).toFixed(1);

function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

async function child() {
  const { tf, EventBus, Rng, selectBackend } = await import('@genview/core');
  // The tensor work here is one mean per batch; the reference CPU rung keeps it out of the measurement.
  await selectBackend({ force: opts.rung });
  await tf.ready();
  const { loadImageFolder, inMemoryDataset } = await import('@genview/datasets');
  const { BatchOrder } = await import('@genview/runner');
  const size = Number(opts.size);
  const batch = Number(opts.batch);
  const context = { events: new EventBus(), path: 'bench', rng: new Rng(0) };
  // Warm the libraries (sharp, tf) before the baseline, so their own footprint is not counted as growth.
  (await (await import('sharp')).default({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).raw().toBuffer()).length;
  tf.tidy(() => tf.zeros([1, size, size, 3]).mean().dataSync());
  gc();
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  let data;
  if (opts.loader === 'stream') {
    data = await loadImageFolder(
      { dir: opts.dir, size, channels: 3, labels: 'auto', fit: 'cover', check: 'header', cacheSize: Number(opts.cache), concurrency: Number(opts.concurrency) },
      context,
    );
  } else {
    // The reference: decode everything first, as image-folder did before it streamed.
    const sharp = (await import('sharp')).default;
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(opts.dir).sort();
    const row = size * size * 3;
    const pixels = new Uint8Array(files.length * row);
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const raw = await sharp(join(opts.dir, files[i])).resize(size, size, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer();
        pixels.set(raw, i * row);
      }
    };
    await Promise.all(Array.from({ length: Number(opts.concurrency) }, worker));
    data = inMemoryDataset(pixels, [files.length, size, size, 3]);
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  const order = new BatchOrder(0, data.info.size, batch);
  const steps = order.stepsPerEpoch;
  let peakSampled = 0;
  let checksum = 0;
  const t1 = performance.now();
  for (let step = 0; step < steps; step++) {
    const { images } = await data.read(order.indices(step));
    data.prefetch?.(order.indices(step + 1));
    checksum += tf.tidy(() => images.mean().dataSync()[0]);
    images.dispose();
    peakSampled = Math.max(peakSampled, process.memoryUsage().rss);
  }
  const epochSeconds = (performance.now() - t1) / 1000;
  gc();
  const result = {
    loader: opts.loader,
    images: data.info.size,
    steps,
    before,
    peakSampled,
    // getrusage's maxrss is in KiB on Linux: the true high-water mark, loading included.
    peak: process.resourceUsage().maxRSS * 1024,
    after: process.memoryUsage().rss,
    loadSeconds,
    epochSeconds,
    decoded: data.decodedImages ?? data.info.size,
    cached: data.cachedImages ?? data.info.size,
    numTensors: tf.memory().numTensors,
    meanPixel: checksum / steps,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

async function writeFolder(root, n, source) {
  const sharp = (await import('sharp')).default;
  const dir = join(root, `folder-${n}`);
  mkdirSync(dir, { recursive: true });
  let seed = 12345 + n;
  const noise = Buffer.alloc(source * source * 3);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < noise.length; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      noise[j] = seed >>> 24;
    }
    writeFileSync(join(dir, `${String(i).padStart(6, '0')}.png`), await sharp(noise, { raw: { width: source, height: source, channels: 3 } }).png().toBuffer());
  }
  return dir;
}

function measure(dir, loader) {
  const argv = ['--expose-gc', fileURLToPath(import.meta.url), '--child', '--dir', dir, '--loader', loader];
  for (const key of ['size', 'batch', 'cache', 'concurrency', 'rung']) argv.push(`--${key}`, String(opts[key]));
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter(Boolean).slice(-8).join('\n  ');
    // Thrown, not process.exit, so main's finally still removes the folders it wrote.
    throw Object.assign(new Error(`folder memory: the ${loader} child on ${dir} failed (exit ${r.status}):\n  ${why}`), { exitCode: 2 });
  }
  return JSON.parse(line.slice(7));
}

async function main() {
  const sizes = opts.sizes.split(',').map(Number).sort((a, b) => a - b);
  const loaders = opts.loaders.split(',');
  const side = Number(opts.size);
  const root = mkdtempSync(join(tmpdir(), 'genview-folder-memory-'));
  try {
    const results = [];
    for (const n of sizes) {
      const t0 = performance.now();
      const dir = await writeFolder(root, n, Number(opts.source));
      console.log(`wrote ${n} PNGs of ${opts.source}x${opts.source}x3 noise in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})`);
      for (const loader of loaders) {
        const res = measure(dir, loader);
        results.push(res);
        console.log(
          `  ${loader.padEnd(6)} N=${res.images}: peak RSS ${mb(res.peak)} MB (before loading ${mb(res.before)} MB, growth ${mb(res.peak - res.before)} MB), ` +
            `load ${res.loadSeconds.toFixed(1)} s, epoch ${res.steps} steps ${res.epochSeconds.toFixed(1)} s, decodes ${res.decoded}, cached ${res.cached}, tensors left ${res.numTensors}`,
        );
      }
    }
    console.log(`\nDecoded to ${side}x${side}x3, batch ${opts.batch}, stream cacheSize ${opts.cache} (cache bound ${mb(Number(opts.cache) * side * side * 3)} MB), concurrency ${opts.concurrency}.`);
    const growth = (r) => r.peak - r.before;
    let ok = true;
    for (const loader of loaders) {
      const rows = results.filter((r) => r.loader === loader);
      const small = rows[0];
      const large = rows[rows.length - 1];
      console.log(
        `${loader}: N ${small.images} -> ${large.images} (x${(large.images / small.images).toFixed(1)}): peak RSS ${mb(small.peak)} -> ${mb(large.peak)} MB, ` +
          `growth ${mb(growth(small))} -> ${mb(growth(large))} MB (+${mb(growth(large) - growth(small))} MB, x${(growth(large) / growth(small)).toFixed(2)})`,
      );
      if (loader === 'stream') ok = growth(large) - growth(small) <= Number(opts['max-growth-mb']) * MB;
    }
    const stream = results.filter((r) => r.loader === 'stream').at(-1);
    if (stream) {
      const uint8 = stream.images * side * side * 3;
      console.log(
        `stream at N=${stream.images}: growth ${mb(growth(stream))} MB = ${(growth(stream) / uint8).toFixed(3)}x the eager uint8 decoded size (${mb(uint8)} MB), ` +
          `${(growth(stream) / (4 * uint8)).toFixed(3)}x the float32 size N*H*W*C*4 (${mb(4 * uint8)} MB)`,
      );
      const eager = results.filter((r) => r.loader === 'eager').at(-1);
      if (eager) console.log(`stream / eager peak RSS at N=${stream.images}: ${(stream.peak / eager.peak).toFixed(3)} (growth ${(growth(stream) / growth(eager)).toFixed(3)})`);
    }
    console.log(ok ? `PASS: stream RSS growth small -> large folder within ${opts['max-growth-mb']} MB` : `FAIL: stream RSS grew more than ${opts['max-growth-mb']} MB`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    if (opts.keep) console.log(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

if (opts.child) await child();
else {
  try {
    await main();
  } catch (error) {
    console.error(error.message);
    process.exitCode = error.exitCode ?? 2;
  }
}
