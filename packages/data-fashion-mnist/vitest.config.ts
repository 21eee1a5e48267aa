import { genviewProject } from '../../tools/vitest/project.ts';

export default genviewProject('data-fashion-mnist');
