/** vitest setupFiles: after each test file, remove the scratch folders its helpers made. */
import { afterAll } from 'vitest';
import { removeScratchDirs } from '../helpers/scratch.js';

afterAll(removeScratchDirs);
