import { OperationError } from '../errors.ts'
import { rebuiltTag } from '../names.ts'
import { hasDockerfile, stateDir, statePath } from '../state.ts'
import type { Bottle } from './types.ts'

/**
 * What a bottle is rebuilt from when its snapshot is gone: its per-bottle Dockerfile, built with
 * the backend's own builder, else the image it was started from.
 */
export async function rebuildSource(bottle: Bottle, build: (tag: string, dockerfile: string, context: string) => Promise<void>): Promise<string> {
  if (hasDockerfile(bottle.slug)) {
    const tag = rebuiltTag(bottle.slug)
    await build(tag, statePath(bottle.slug, 'dockerfile'), stateDir(bottle.slug))
    return tag
  }
  if (bottle.metadata.image) return bottle.metadata.image
  throw new OperationError(`bottle "${bottle.slug}" has no snapshot, no per-bottle Dockerfile and no recorded image to rebuild from`)
}
