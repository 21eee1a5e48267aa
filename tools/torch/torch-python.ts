import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The PyTorch reference scripts beside this file. */
export const TORCHVISION_RESNET_SCRIPT = fileURLToPath(new URL('./torchvision_resnet.py', import.meta.url));
export const TIMM_VIT_SCRIPT = fileURLToPath(new URL('./timm_vit.py', import.meta.url));

let found: { python?: string; reason: string } | undefined;

/**
 * A python3 that imports torch (Debian's python3-torch; .ci/run installs it as root), for the tests that
 * compare our networks with PyTorch's. GENVIEW_TORCH_PYTHON picks one; otherwise python3 on PATH, then
 * the system's (a pyenv shim on PATH may hide the Debian package). `reason` says why none was found.
 */
export function torchPython(): { python?: string; reason: string } {
  if (found) return found;
  const candidates = [process.env.GENVIEW_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) {
      found = { python, reason: '' };
      return found;
    }
  }
  found = { reason: ` [skipped: no python3 with torch (tried ${candidates.join(', ')}); apt-get install python3-torch]` };
  return found;
}

/** Runs a reference script; a failure throws with its stderr. */
export function runPython(python: string, args: readonly string[]): void {
  const run = spawnSync(python, [...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (run.status !== 0) throw new Error(`${python} ${args.join(' ')} failed (${run.status ?? run.signal}):\n${run.stderr}`);
}
