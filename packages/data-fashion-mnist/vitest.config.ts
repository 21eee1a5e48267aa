import { genviewProject } from '../../tools/vitest/project';

export default genviewProject('data-fashion-mnist');
