#!/usr/bin/env node
// Prints 1 when the system can compile and link against OpenBLAS's CBLAS, 0 otherwise; binding.gyp
// reads it to decide whether the addon links OpenBLAS or runs its own GEMM. GENVIEW_NATIVE_BLAS
// overrides the probe: `none` builds without OpenBLAS even where it is installed, `openblas` insists.
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

function probe() {
  const dir = mkdtempSync(join(tmpdir(), 'genview-blas-'));
  try {
    const source = join(dir, 'probe.cc');
    writeFileSync(
      source,
      '#include <cblas.h>\nint main() { float a = 1, b = 1, c = 0;\n' +
        '  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);\n' +
        '  return openblas_get_num_threads() > 0 && c == 1 ? 0 : 1; }\n',
    );
    const cxx = process.env.CXX || 'c++';
    const result = spawnSync(cxx, [source, '-o', join(dir, 'probe'), '-lopenblas'], { stdio: 'ignore', timeout: 60_000 });
    return result.status === 0;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const wanted = (process.env.GENVIEW_NATIVE_BLAS || 'auto').trim().toLowerCase();
if (wanted === 'none') {
  process.stdout.write('0');
} else if (wanted === 'openblas') {
  if (!probe()) {
    process.stderr.write('GENVIEW_NATIVE_BLAS=openblas but cblas.h / libopenblas were not found (apt-get install libopenblas-dev).\n');
    process.exit(1);
  }
  process.stdout.write('1');
} else {
  process.stdout.write(probe() ? '1' : '0');
}
