import { genviewProject } from '../../tools/vitest/project.ts';

export default genviewProject('model-tiny-unclip', { testTimeout: 300_000 });
