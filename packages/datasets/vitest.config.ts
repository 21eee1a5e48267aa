import { genviewProject } from '../../tools/vitest/project.ts';

export default genviewProject('datasets');
