// Imported for its effect by every module that validates: English messages for zod's
// tree-shakable build (zod/mini). The full build is 0.7 MB and costs ~30 ms of start-up per task.
import { config } from 'zod/mini'
import en from 'zod/v4/locales/en.js'

config(en())
