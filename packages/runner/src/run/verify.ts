import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { type EventBus, GenviewError, decodeSafetensors, isGenviewError, isTemporaryName } from '@genview/core';
import { ViewStore, type VerifyReport } from '@genview/views';

/**
 * `genview verify`: re-reads what a run or a view store wrote and says what is damaged. A view store's
 * shards are checked against their completion markers (sha256, size, members); every checkpoint
 * (*.safetensors) of a run, its stage folders included, is decoded in full. With `repair`, damaged
 * shards lose their markers, so the next `genview generate` rewrites exactly those.
 */

export interface CheckpointCheck {
  /** Relative to the verified folder. */
  file: string;
  ok: boolean;
  /** The run position in its metadata (the next step to train). */
  step?: number;
  problem?: string;
}

export interface StoreCheck {
  /** Relative to the verified folder ('.' when it is the store itself). */
  dir: string;
  report: VerifyReport;
  /** Complete shards after the check (and the repair). */
  complete: number;
}

export interface VerifyResult {
  path: string;
  kind: 'store' | 'run';
  stores: StoreCheck[];
  checkpoints: CheckpointCheck[];
  /** Damage found: bad shards (un-marked when repairing) and unreadable checkpoints. */
  damaged: number;
  /** Damage that is still there afterwards (a repair leaves only damaged checkpoints). */
  remaining: number;
}

export interface VerifyOptions {
  repair?: boolean;
  events?: EventBus;
}

const STORE_META = 'store.json';

function isStore(dir: string): boolean {
  return existsSync(join(dir, STORE_META));
}

function subfolders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function checkCheckpoint(root: string, path: string): CheckpointCheck {
  const file = relative(root, path);
  try {
    const { metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
    const step = Number(metadata?.step);
    if (metadata?.step !== undefined && !(Number.isInteger(step) && step >= 0)) {
      return { file, ok: false, problem: `its metadata step is ${JSON.stringify(metadata.step)}, not a step number.` };
    }
    return { file, ok: true, ...(metadata?.step === undefined ? {} : { step }) };
  } catch (error) {
    return { file, ok: false, problem: isGenviewError(error) ? error.problem : (error as Error).message };
  }
}

/** Checkpoints directly in `dir` and in its stage folders; view stores in `dir` and one level below. */
function runContents(dir: string): { checkpoints: string[]; stores: string[] } {
  const checkpoints: string[] = [];
  const stores: string[] = [];
  const scan = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (name.endsWith('.safetensors') && !isTemporaryName(name) && statSync(join(folder, name)).isFile()) checkpoints.push(join(folder, name));
    }
  };
  scan(dir);
  for (const sub of subfolders(dir)) {
    const folder = join(dir, sub);
    if (isStore(folder)) stores.push(folder);
    else if (/^stage-\d+$/.test(sub)) scan(folder);
  }
  return { checkpoints, stores };
}

async function checkStore(root: string, dir: string, options: VerifyOptions): Promise<StoreCheck> {
  const store = await ViewStore.open(dir, { events: options.events });
  const report = await store.verify({ repair: options.repair });
  return { dir: relative(root, dir) || '.', report, complete: store.completedShards().length };
}

export async function verifyPath(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const root = resolve(path);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new GenviewError('NOT_FOUND', `there is no folder at ${root}.`, {
      where: 'genview verify',
      fix: 'name a view store (the folder with store.json that `genview generate` wrote) or a run folder (the outDir of `genview train`).',
    });
  }
  let result: Omit<VerifyResult, 'damaged' | 'remaining'>;
  if (isStore(root)) {
    result = { path: root, kind: 'store', stores: [await checkStore(root, root, options)], checkpoints: [] };
  } else {
    const { checkpoints, stores } = runContents(root);
    if (checkpoints.length === 0 && stores.length === 0 && !existsSync(join(root, 'config.json'))) {
      throw new GenviewError('NOT_FOUND', `${root} is neither a view store (no ${STORE_META}) nor a training run (no config.json, checkpoint or view store).`, {
        where: 'genview verify',
        fix: 'name the folder `genview generate` wrote (generate.store, default <outDir>/views) or the outDir of `genview train`.',
      });
    }
    const checkedStores: StoreCheck[] = [];
    for (const dir of stores) checkedStores.push(await checkStore(root, dir, options));
    result = { path: root, kind: 'run', stores: checkedStores, checkpoints: checkpoints.map((p) => checkCheckpoint(root, p)) };
  }
  const badShards = result.stores.reduce((n, s) => n + s.report.problems.length, 0);
  const badCheckpoints = result.checkpoints.filter((c) => !c.ok).length;
  const repairedShards = result.stores.reduce((n, s) => n + s.report.repaired.length, 0);
  return { ...result, damaged: badShards + badCheckpoints, remaining: badShards - repairedShards + badCheckpoints };
}

/** The human report of `genview verify`. */
export function formatVerify(result: VerifyResult, options: { repair?: boolean } = {}): string {
  const lines: string[] = [];
  for (const store of result.stores) {
    const { report } = store;
    const where = store.dir === '.' ? result.path : join(result.path, store.dir);
    lines.push(`view store ${where}: ${report.checked} marked shards checked, ${store.complete} of ${report.totalShards} complete`);
    for (const p of report.problems) lines.push(`  DAMAGED shard ${p.shard}: ${p.problem}`);
    if (report.repaired.length > 0) {
      lines.push(`  repaired: un-marked shard${report.repaired.length > 1 ? 's' : ''} ${report.repaired.join(', ')}; \`genview generate\` with the same config rewrites exactly those`);
    } else if (report.problems.length > 0) {
      lines.push(`  fix: \`genview verify ${where} --repair\` un-marks the damaged shards, then \`genview generate\` rewrites them`);
    }
    // With damaged shards the index disagrees by those alone; that says nothing new.
    if (report.indexStale && (options.repair || report.problems.length === 0)) lines.push(`  index.json ${options.repair ? 'was rebuilt from the markers' : 'disagrees with the markers (harmless: it is a summary; --repair rebuilds it)'}`);
  }
  for (const c of result.checkpoints) {
    lines.push(c.ok ? `checkpoint ${c.file}: ok${c.step === undefined ? '' : ` (step ${c.step})`}` : `DAMAGED checkpoint ${c.file}: ${c.problem}`);
  }
  const badCheckpoints = result.checkpoints.filter((c) => !c.ok);
  if (badCheckpoints.length > 0) {
    const good = result.checkpoints.filter((c) => c.ok).map((c) => `${c.file}${c.step === undefined ? '' : ` (step ${c.step})`}`);
    lines.push(
      `  fix: a checkpoint cannot be repaired: delete it and train again without --resume${good.length > 0 ? `, or copy a sound one over it (${good.join(', ')})` : ''}`,
    );
  }
  if (result.kind === 'run' && result.checkpoints.length === 0) lines.push('no checkpoints yet');
  lines.push(
    result.remaining > 0 ? `${result.remaining} damaged file(s) remain` : result.damaged > 0 ? `all ${result.damaged} damaged shard(s) un-marked` : 'no damage found',
  );
  return `${lines.join('\n')}\n`;
}
