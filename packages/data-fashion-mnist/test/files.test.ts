import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fashionMnistDir, fashionMnistSha256 } from '@genview/data-fashion-mnist';
import { describe, expect, it } from 'vitest';

describe('shipped Fashion-MNIST files', () => {
  it('are the original files, byte for byte', () => {
    for (const [file, sha] of Object.entries(fashionMnistSha256)) {
      const digest = createHash('sha256').update(readFileSync(join(fashionMnistDir, file))).digest('hex');
      expect(digest, file).toBe(sha);
    }
  });
});
