// The docker backend: a bottle is the container bot-bottle-<slug> on the current engine.
import { PassThrough } from 'node:stream'
import { OperationError } from '../cli.ts'
import { settings } from '../config.ts'
import { resupply, secretNames } from '../secrets.ts'
import { compressor, decompressor } from '../compression.ts'
import * as docker from '../docker.ts'
import { withoutLayers } from '../layers.ts'
import { runPipeline, type Argv } from '../pipeline.ts'
import { ToolError } from '../shell.ts'
import { stateRoot } from '../state.ts'
import { rebuildSource } from './rebuild.ts'
import { CONTAINER_PREFIX, TEMP_DIRS_INIT, ownBottles, toStatus } from './shared.ts'
import type { ActiveBottle, Bottle, BottleBackend, CommitContext } from './types.ts'

export { CONTAINER_PREFIX }
export const containerName = (slug: string) => `${CONTAINER_PREFIX}${slug}`
export const committedTag = (slug: string) => `bot-bottle-committed-${slug}:latest`

/** What we stamp on every snapshot we make, so import can restore the bottle from the image alone. */
export function bottleLabels(bottle: Bottle): Record<string, string> {
  return {
    [docker.LABELS.slug]: bottle.slug,
    [docker.LABELS.backend]: bottle.metadata.backend || 'docker',
    [docker.LABELS.metadata]: JSON.stringify(bottle.metadata),
  }
}

/** Containers also say which state root they belong to (not part of a snapshot: it is per host). */
export const containerLabels = (bottle: Bottle) => ({ ...bottleLabels(bottle), [docker.LABELS.stateRoot]: stateRoot() })

export const dockerBackend: BottleBackend = {
  name: 'docker',

  async listActive(): Promise<ActiveBottle[]> {
    return ownBottles(await docker.listContainers(CONTAINER_PREFIX))
  },

  async status(slug) {
    return toStatus(await docker.containerState(containerName(slug)))
  },

  async start(bottle, image) {
    await docker.runDetached({ name: containerName(bottle.slug), image, labels: containerLabels(bottle) })
  },

  commitSteps() {
    return [
      {
        title: 'Flush pending writes in the bottle (sync)',
        // Without it a commit can miss files the agent has just written. Meanwhile, count the
        // layers under the bottle: the commit adds one, and deep snapshots must be flattened.
        run: async (context: CommitContext) => {
          const name = containerName(context.bottle.slug)
          const [, layers, env] = await Promise.all([docker.execAsRoot(name, ['sync']), docker.containerImageLayers(name), docker.containerEnv(name)])
          context.layers = layers + 1
          context.secretNames = secretNames(env, context.bottle.metadata)
        },
      },
      {
        title: 'Commit the running bottle (docker commit)',
        run: async (context: CommitContext) => {
          const { bottle } = context
          const tag = committedTag(bottle.slug)
          const secrets = context.secretNames ?? []
          const labels = {
            ...bottleLabels(bottle),
            [docker.LABELS.committedAt]: new Date().toISOString(),
            [docker.LABELS.secretEnv]: secrets.join(','),
            // docker commit copies the container's labels; which state root it ran under is per host.
            [docker.LABELS.stateRoot]: '',
          }
          // Credentials keep their names (blank values) so resume knows to supply them again.
          const changes = [...secrets.map((secret) => `ENV ${secret}=`), ...Object.entries(labels).map(([key, value]) => docker.labelChange(key, value))]
          await docker.commitContainer(containerName(bottle.slug), tag, changes)
          context.snapshotRef = tag
        },
      },
      {
        title: "Keep the credentials' values out of the snapshot's legacy config",
        enabled: (context: CommitContext) => (context.secretNames ?? []).length > 0,
        run: async (context: CommitContext) => {
          await docker.rebuildWithoutContainerConfig(context.snapshotRef!, context.snapshotRef!)
        },
      },
      {
        // Each commit of a resumed snapshot adds a layer; engines refuse images deeper than 125.
        title: 'Flatten the snapshot into one layer (it is getting deep)',
        enabled: (context: CommitContext) => (context.layers ?? 0) >= settings().flattenLayers,
        run: async (context: CommitContext) => {
          await docker.flattenImage(context.snapshotRef!, (commands) => runPipeline(commands))
        },
      },
    ]
  },

  snapshotExists: (snapshotRef) => docker.imageExists(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, docker.buildImage),

  async boot(bottle, source, report) {
    // A rebuild source may not be pulled yet: it carries no list of credentials anyway.
    const labels = await docker.labelsIfPresent(source)
    const names = (labels[docker.LABELS.secretEnv] ?? '').split(',').filter(Boolean)
    const { present, missing } = resupply(names)
    if (missing.length > 0) report?.(`not in this environment, so not supplied: ${missing.join(', ')}`)
    await docker.runDetached({ name: containerName(bottle.slug), image: source, labels: containerLabels(bottle), envFromHost: present })
  },

  restart: (slug) => docker.startContainer(containerName(slug)),

  async initTempDirs(slug) {
    await docker.execAsRoot(containerName(slug), ['sh', '-c', TEMP_DIRS_INIT])
  },

  remove: (slug) => docker.removeContainer(containerName(slug)),

  shellCommand: (slug) => ['docker', 'exec', '-it', containerName(slug), 'sh', '-c', 'command -v bash >/dev/null && exec bash || exec sh'],

  async keepSnapshot(slug, latestRef, n) {
    const ref = `bot-bottle-committed-${slug}:${n}`
    const [, image] = await Promise.all([docker.tagImage(latestRef, ref), docker.inspectImage(latestRef)])
    return { ref, sizeBytes: image.sizeBytes }
  },

  removeSnapshot: (ref) => docker.removeTag(ref),

  async copySnapshot(ref, slug) {
    const tag = committedTag(slug)
    await docker.tagImage(ref, tag)
    return tag
  },

  async layersOf(reference) {
    return (await docker.imageExists(reference)) ? docker.imageLayers(reference) : undefined
  },

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut, tempDir }) {
    // Saved by id, so the archive carries no tag: import names it for the slug it lands as.
    const { id } = await docker.inspectImage(snapshotRef)
    const compress = compressor(compression)
    const result = { droppedLayers: 0 }
    if (leaveOut.length === 0) {
      const commands: Argv[] = [docker.saveCommand(id), ...(compress.command ? [compress.command] : [])]
      await runPipeline(commands, { transforms: compress.transform ? [compress.transform] : [], output: sink })
      return result
    }
    // docker save → leave out the base layers (in Node) → compress → sink.
    const saved = new PassThrough({ highWaterMark: 1 << 20 })
    const filtered = withoutLayers(saved, new Set(leaveOut), tempDir, result)
    const [save, write] = await Promise.allSettled([
      runPipeline([docker.saveCommand(id)], { output: saved }),
      runPipeline(compress.command ? [compress.command] : [], { input: filtered, transforms: compress.transform ? [compress.transform] : [], output: sink }).catch(
        (error: unknown) => {
          saved.destroy() // so docker save stops instead of waiting for a reader
          throw error
        },
      ),
    ])
    // docker's own failure explains more than the truncated stream it causes downstream.
    if (save.status === 'rejected' && save.reason instanceof ToolError) throw save.reason
    if (write.status === 'rejected') throw write.reason
    if (save.status === 'rejected') throw save.reason
    return result
  },

  async loadSnapshot(payload, compression) {
    const decompress = decompressor(compression)
    const commands: Argv[] = [...(decompress.command ? [decompress.command] : []), docker.loadCommand()]
    const input = decompress.transform ? payload.pipe(decompress.transform) : payload
    const output = await runPipeline(commands, { input })
    const loaded = docker.parseLoaded(output)
    if (!loaded) throw new OperationError(`docker load did not say what it loaded: ${output.trim()}`)
    return loaded
  },

  async adoptSnapshot(loaded, slug, _stagedDir) {
    const tag = committedTag(slug)
    await docker.tagImage(loaded, tag)
    // A pulled snapshot keeps only our name; an image id (a loaded bundle) is not a name to drop.
    if (!loaded.startsWith('sha256:') && loaded !== tag) await docker.untagImage(loaded)
    return tag
  },

  async pushSnapshot(snapshotRef, registryRef) {
    await docker.tagImage(snapshotRef, registryRef)
    try {
      return { digest: await docker.pushImage(registryRef) }
    } finally {
      await docker.untagImage(registryRef)
    }
  },

  async pullSnapshot(registryRef) {
    await docker.pullImage(registryRef)
    return { loaded: registryRef, labels: (await docker.inspectImage(registryRef)).labels }
  },

  async discardSnapshot(reference) {
    if (!reference.startsWith('sha256:')) await docker.untagImage(reference)
  },
}
