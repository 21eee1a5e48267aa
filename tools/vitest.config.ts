import { genviewProject } from './vitest/project.ts';

// Repository-level checks (packing, examples); they use the built packages.
export default genviewProject('tools', { testTimeout: 600_000 });
