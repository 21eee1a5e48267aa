import { genviewProject } from '../../tools/vitest/project';

export default genviewProject('backend-native');
