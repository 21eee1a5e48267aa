import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildHint, missingBuildTools } from '../src/build-hint';

const savedPath = process.env.PATH;
const savedCxx = process.env.CXX;
const dirs: string[] = [];

function pathWith(tools: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'genview-path-'));
  dirs.push(dir);
  for (const tool of tools) symlinkSync(process.execPath, join(dir, tool));
  return dir;
}

afterEach(() => {
  process.env.PATH = savedPath;
  if (savedCxx === undefined) delete process.env.CXX;
  else process.env.CXX = savedCxx;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the missing-addon hint', () => {
  it('names every missing build tool and the apt command when none is on PATH', () => {
    delete process.env.CXX;
    process.env.PATH = pathWith([]);
    expect(missingBuildTools()).toEqual(['a C++ compiler', 'make', 'python3']);
    expect(buildHint()).toMatch(/lacks a C\+\+ compiler, make and python3.*apt-get install g\+\+ make python3.*npm run build:native/);
  });

  it('names only the missing tool', () => {
    delete process.env.CXX;
    process.env.PATH = pathWith(['g++', 'python3']);
    expect(missingBuildTools()).toEqual(['make']);
    expect(buildHint()).toMatch(/^this machine lacks make, so/);
  });

  it('gives the build command alone when the tools are there, and honours CXX', () => {
    process.env.CXX = 'my-cxx';
    process.env.PATH = pathWith(['my-cxx', 'make', 'python3']);
    expect(missingBuildTools()).toEqual([]);
    expect(buildHint()).toMatch(/^npm skipped or failed its install-time build; fix: `npm run build:native -w @genview\/backend-native`/);
  });
});
