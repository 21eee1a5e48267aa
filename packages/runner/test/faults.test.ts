import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Rng, decodeSafetensors, isTemporaryName } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, tinyGenerateSection, writeTinyConfig } from './tiny-run';

/*
 * Fault injection: `genview train` and `genview generate` are SIGKILLed at a seeded random moment,
 * then resumed, N times each (GENVIEW_FAULT_REPEATS; `npm run test:faults` runs 20). After every
 * resume the final checkpoint and the view store must equal an uninterrupted run's byte for byte,
 * metrics.jsonl must hold every step once, and no temporary file may be left. Then a full disk (a
 * small tmpfs, where the tests run as root and may mount): writing a checkpoint or a shard fails with
 * a clear error and the previous one survives intact. GENVIEW_FAULT_REPORT names a JSON file for the
 * figures (kill points, resume times).
 */

const REPEATS = Number(process.env.GENVIEW_FAULT_REPEATS ?? 2);
const SEED = Number(process.env.GENVIEW_FAULT_SEED ?? 21);
const STEPS = 40;
const EVERY = 5;
const SHARDS = 8;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  text: string;
  seconds: number;
}

/** Spawns the CLI; `killWhen` is polled on every output chunk and every 5 ms, and SIGKILLs the child once it returns true. */
function genview(args: string[], killWhen?: (text: string) => boolean, delayMs = 0): Promise<Run & { killed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let armed = false;
    let killed = false;
    const check = () => {
      if (!killWhen || armed || !killWhen(text)) return;
      armed = true;
      setTimeout(() => {
        killed = child.exitCode === null && child.kill('SIGKILL');
      }, delayMs);
    };
    const timer = setInterval(check, 5);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      check();
    });
    // Progress lines (the kill triggers) are on stderr, results on stdout.
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      check();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, text, seconds: (performance.now() - started) / 1000, killed });
    });
  });
}

/** Every file under dir by relative path (hidden ones included). */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

function temporaries(dir: string): string[] {
  return [...snapshot(dir).keys()].filter((path) => isTemporaryName(path.split('/').pop() as string) || path.endsWith('.tmp'));
}

function metricSteps(outDir: string): number[] {
  return readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
}

function checkpointStep(path: string): number | undefined {
  return existsSync(path) ? Number(decodeSafetensors(new Uint8Array(readFileSync(path))).metadata?.step) : undefined;
}

const report: Record<string, unknown> = { repeats: REPEATS, seed: SEED, train: [], generate: [] };

describe('fault injection', () => {
  let root: string;
  const rng = new Rng(SEED);
  let referenceCheckpoint: Buffer;
  let referenceStore: Map<string, Buffer>;
  const setUp = (name: string, withStore = false) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const outDir = join(dir, 'run');
    const store = join(dir, 'views');
    const config = writeTinyConfig(dir, outDir, { steps: STEPS, checkpointEvery: EVERY, extra: withStore ? tinyGenerateSection(store) : '' });
    return { dir, outDir, store, config };
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'genview-faults-'));
    const train = setUp('reference-train');
    const trained = await genview(['train', '--config', train.config, '--plain']);
    expect(trained.code, trained.text).toBe(0);
    referenceCheckpoint = readFileSync(join(train.outDir, 'last.safetensors'));
    const gen = setUp('reference-generate', true);
    const generated = await genview(['generate', '--config', gen.config, '--plain']);
    expect(generated.code, generated.text).toBe(0);
    referenceStore = snapshot(gen.store);
    report.referenceSeconds = { train: trained.seconds, generate: generated.seconds };
  }, 120_000);

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    if (process.env.GENVIEW_FAULT_REPORT) writeFileSync(process.env.GENVIEW_FAULT_REPORT, `${JSON.stringify(report, null, 2)}\n`);
  });

  it(`SIGKILLed genview train (${REPEATS}x at a seeded random step) resumes to the uninterrupted checkpoint bytes, each step logged once, no temporaries`, async () => {
    for (let i = 0; i < REPEATS; i++) {
      const run = setUp(`train-${i}`);
      const killAt = 1 + rng.int(STEPS - 1);
      const delayMs = rng.int(25);
      const killed = await genview(['train', '--config', run.config, '--plain'], (text) => new RegExp(`^step ${killAt} `, 'm').test(text), delayMs);
      const last = join(run.outDir, 'last.safetensors');
      const atKill = checkpointStep(last);
      // Killed before its first checkpoint, a run can only start over (a fresh run empties its logs).
      const resumed = await genview(['train', '--config', run.config, '--plain', ...(atKill === undefined ? [] : ['--resume'])]);
      (report.train as unknown[]).push({ killAt, delayMs, killed: killed.killed, checkpointAtKill: atKill ?? null, resumeSeconds: Number(resumed.seconds.toFixed(2)) });
      expect(resumed.code, resumed.text).toBe(0);
      expect(readFileSync(last).equals(referenceCheckpoint), `repeat ${i}: killed at step ${killAt}`).toBe(true);
      expect(metricSteps(run.outDir)).toEqual(Array.from({ length: STEPS }, (_, s) => s + 1));
      expect(temporaries(run.dir)).toEqual([]);
    }
  }, 60_000 + REPEATS * 30_000);

  it(`SIGKILLed genview generate (${REPEATS}x after a seeded random number of shards) resumes to the uninterrupted store's bytes, no temporaries`, async () => {
    for (let i = 0; i < REPEATS; i++) {
      const run = setUp(`generate-${i}`, true);
      const afterShards = rng.int(SHARDS);
      const delayMs = rng.int(60);
      const markers = () => (existsSync(join(run.store, 'done')) ? readdirSync(join(run.store, 'done')).filter((n) => n.endsWith('.json')).length : 0);
      // A store whose first shard is not written yet may not exist at all; wait for store.json then.
      const killed = await genview(['generate', '--config', run.config, '--plain'], () => existsSync(join(run.store, 'store.json')) && markers() >= afterShards, delayMs);
      const done = markers();
      const resumed = await genview(['generate', '--config', run.config, '--plain']);
      (report.generate as unknown[]).push({ afterShards, delayMs, killed: killed.killed, shardsAtKill: done, resumeSeconds: Number(resumed.seconds.toFixed(2)) });
      expect(resumed.code, resumed.text).toBe(0);
      expect(resumed.text).toContain(`: ${SHARDS - done} shards written this run (${SHARDS} in all)`);
      const got = snapshot(run.store);
      expect([...got.keys()].sort(), `repeat ${i}`).toEqual([...referenceStore.keys()].sort());
      for (const [path, bytes] of referenceStore) expect(got.get(path)?.equals(bytes), `repeat ${i}: ${path}`).toBe(true);
      expect(temporaries(run.dir)).toEqual([]);
    }
  }, 60_000 + REPEATS * 40_000);

  describe('a full disk', () => {
    const reason = fullDiskUnavailable();
    let mount: string;
    const mounted: string[] = [];
    beforeAll(() => {
      if (reason) return;
      mount = mkdtempSync(join(tmpdir(), 'genview-full-disk-'));
    });
    afterAll(() => {
      if (reason || !mount) return;
      for (const dir of mounted) spawnSync('umount', [dir]);
      rmSync(mount, { recursive: true, force: true });
    });

    /** Mounts a tmpfs of `kb` KiB at a fresh folder under the mount point. */
    const tmpfs = (name: string, kb: number) => {
      const dir = join(mount, name);
      mkdirSync(dir);
      const done = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', dir], { encoding: 'utf8' });
      expect(done.status, done.stderr).toBe(0);
      mounted.push(dir);
      return dir;
    };
    /** Fills the file system of `dir` to the last byte. */
    const fill = (dir: string) => {
      const fd = openSync(join(dir, 'filler'), 'w');
      const chunk = Buffer.alloc(4096, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      try {
        for (;;) writeSync(fd, chunk, 0, 1);
      } catch {
        // Full to the byte.
      } finally {
        closeSync(fd);
      }
    };

    it.skipIf(reason !== undefined)(`writing a checkpoint fails with a clear error and the previous one survives${reason ? ` (skipped: ${reason})` : ''}`, async () => {
      const disk = tmpfs('train', 256);
      const dir = join(disk, 'job');
      mkdirSync(dir);
      const outDir = join(dir, 'run');
      const config = writeTinyConfig(dir, outDir, { steps: STEPS, checkpointEvery: EVERY });
      // Stopped by SIGINT after step 12: a checkpoint of that step, and the next one due at step 15.
      const child = spawn(process.execPath, [CLI, 'train', '--config', config, '--plain'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout?.resume();
      child.stderr?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/^step 12 /m.test(out)) child.kill('SIGINT');
      });
      expect(await new Promise((resolve) => child.on('close', resolve))).toBe(130);
      const last = join(outDir, 'last.safetensors');
      const before = readFileSync(last);
      const stoppedAt = checkpointStep(last) as number;
      expect(stoppedAt).toBeLessThan(15);
      fill(disk);
      const failed = await genview(['train', '--config', config, '--plain', '--resume']);
      expect(failed.code, failed.text).toBe(2);
      expect(failed.text).toMatch(/genview: \[UNREADABLE_FILE\] .*(last\.safetensors|metrics\.jsonl).*ENOSPC/);
      expect(failed.text).toMatch(/free space/);
      expect(failed.text).not.toMatch(/unexpected error|at .*\.js:\d+/);
      expect(readFileSync(last).equals(before)).toBe(true);
      expect(checkpointStep(last)).toBe(stoppedAt);
      expect(temporaries(dir)).toEqual([]);
      (report as { fullDisk?: Record<string, string> }).fullDisk = { checkpoint: failed.text.split('\n').find((l) => l.startsWith('genview: ')) ?? '' };
    }, 60_000);

    it.skipIf(reason !== undefined)(`writing a shard fails with a clear error and the previous shard survives${reason ? ` (skipped: ${reason})` : ''}`, async () => {
      const disk = tmpfs('generate', 1024);
      const dir = join(disk, 'job');
      mkdirSync(dir);
      const store = join(dir, 'views');
      const config = writeTinyConfig(dir, join(dir, 'run'), { extra: tinyGenerateSection(store) });
      expect((await genview(['generate', '--config', config, '--plain'])).code).toBe(0);
      // Shard 7 un-marked (as verify --repair does): generate must write it again, on a full disk.
      const tar = join(store, 'shards', 'shard-000007.tar');
      const before = readFileSync(tar);
      unlinkSync(join(store, 'done', 'shard-000007.json'));
      fill(disk);
      const failed = await genview(['generate', '--config', config, '--plain']);
      expect(failed.code, failed.text).toBe(2);
      expect(failed.text).toMatch(/genview: \[UNREADABLE_FILE\] .*shard-000007\.tar.*ENOSPC.*free space/);
      expect(readFileSync(tar).equals(before)).toBe(true);
      expect(temporaries(dir)).toEqual([]);
      (report as { fullDisk?: Record<string, string> }).fullDisk = {
        ...(report as { fullDisk?: Record<string, string> }).fullDisk,
        shard: failed.text.split('\n').find((l) => l.startsWith('genview: ')) ?? '',
      };
    }, 60_000);
  });
});

/** Why a tmpfs cannot be mounted here (not root, or mount refused), or undefined when it can. */
function fullDiskUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `tmpfs mounts are Linux-only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the tests do not run as root, so they cannot mount a small tmpfs';
  const probe = mkdtempSync(join(tmpdir(), 'genview-mount-probe-'));
  try {
    const done = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
    if (done.error) return `mount could not run: ${done.error.message}`;
    if (done.status !== 0) return `mount -t tmpfs failed: ${(done.stderr || done.stdout).trim()}`;
    spawnSync('umount', [probe]);
    return undefined;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
