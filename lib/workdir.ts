// Scratch space for big temporary files (archives, image tarballs): under the state root, so on the
// same disk as the state and not in a small /tmp; removed on success, failure and Ctrl-C.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { registerCleanup } from './cleanup.ts'
import { stateRoot } from './state.ts'

export interface WorkDir {
  path: string
  remove: () => Promise<void>
}

export async function makeWorkDir(purpose: string): Promise<WorkDir> {
  const parent = join(stateRoot(), 'tmp')
  await mkdir(parent, { recursive: true })
  // The pid in the name lets cleanup tell the leftovers of a crashed (kill -9) task from live work.
  const path = await mkdtemp(join(parent, `${purpose}-${process.pid}-`))
  const forget = registerCleanup(() => rm(path, { recursive: true, force: true }))
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true })
      forget()
    },
  }
}
