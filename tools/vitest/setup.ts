import { selectBackend } from '@genview/core';
import { beforeAll } from 'vitest';

// Tests run on the backend the ladder picks (GENVIEW_BACKEND forces one), as users' code does.
beforeAll(async () => {
  await selectBackend();
});
