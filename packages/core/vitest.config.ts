import { genviewProject } from '../../tools/vitest/project.ts';

export default genviewProject('core');
