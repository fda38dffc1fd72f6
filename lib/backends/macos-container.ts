// The macos-container backend: a bottle is the Apple container bot-bottle-<slug>.
// Apple containers vanished when stopped in older releases, so a commit never stops one: it
// streams a tar of / out of the running container and rebuilds that as an image FROM scratch.
import { createWriteStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compressing, decompressing } from '../compression.ts'
import * as container from '../container.ts'
import { OperationError, UsageError } from '../errors.ts'
import { LABELS, SHELL, bottleLabels, committedTag, containerLabels, containerName, numberedTag } from '../names.ts'
import { scratchDockerfile, type ImageConfig } from '../image-config.ts'
import { resupply, secretNames, withoutSecrets } from '../secrets.ts'
import { runPipeline } from '../pipeline.ts'
import { makeWorkDir } from '../workdir.ts'
import { TEMP_DIRS_INIT, ownBottles, toStatus } from './shared.ts'
import { rebuildSource } from './rebuild.ts'
import type { ActiveBottle, BottleBackend, CommitContext } from './types.ts'

const ROOTFS_EXCLUDES = ['./proc', './sys', './dev', './run'].map((path) => `--exclude=${path}`)

interface AppleCommit extends CommitContext {
  workDir?: string
  imageConfig?: ImageConfig
}


async function find(slug: string) {
  return (await container.listContainers()).find((entry) => entry.id === containerName(slug))
}

export const macosContainerBackend: BottleBackend = {
  name: 'macos-container',

  async listActive(): Promise<ActiveBottle[]> {
    return ownBottles((await container.listContainers()).map((entry) => ({ name: entry.id, state: entry.state, stateRoot: entry.labels[LABELS.stateRoot] })))
  },

  status: async (slug) => toStatus((await find(slug))?.state),

  start: (bottle, image) => container.runDetached(containerName(bottle.slug), image, containerLabels(bottle)),

  commitSteps() {
    return [
      {
        title: "Read the image settings of the running container (user, workdir, env, entrypoint, cmd)",
        run: async (context: AppleCommit) => {
          const running = await find(context.bottle.slug)
          if (!running?.image) throw new OperationError(`container ${containerName(context.bottle.slug)} is not there`)
          const [imageConfig, runtimeEnv] = await Promise.all([container.imageConfig(running.image), container.containerEnv(containerName(context.bottle.slug))])
          const env = imageConfig.Env ?? []
          context.secretNames = secretNames([...env, ...runtimeEnv], context.bottle.metadata)
          // Credentials baked into the image's settings stay out of the snapshot too.
          context.imageConfig = { ...imageConfig, Env: withoutSecrets(env, context.bottle.metadata) }
        },
      },
      {
        title: 'Flush pending writes in the bottle (sync)',
        run: async ({ bottle }: AppleCommit) => {
          await container.execAsRoot(containerName(bottle.slug), ['sync'])
        },
      },
      {
        title: 'Stream a tar of / out of the running container',
        run: async (context: AppleCommit) => {
          context.workDir = (await makeWorkDir('commit')).path
          const tar = container.execArgv(containerName(context.bottle.slug), ['tar', '--create', ...ROOTFS_EXCLUDES, '--file=-', '--directory=/', '.'])
          await runPipeline([tar], {
            output: createWriteStream(join(context.workDir, 'rootfs.tar')),
            // tar's exit 1 means files changed while being read: expected in a live bottle.
            acceptExit: (_argv, code) => code === 1,
          })
        },
      },
      {
        title: 'Build the snapshot image FROM scratch with the same settings',
        run: async (context: AppleCommit) => {
          const { bottle, workDir } = context
          const tag = committedTag(bottle.slug)
          const labels = {
            ...(context.imageConfig?.Labels ?? {}),
            ...bottleLabels(bottle),
            [LABELS.committedAt]: new Date().toISOString(),
            [LABELS.secretEnv]: (context.secretNames ?? []).join(','),
          }
          await writeFile(join(workDir!, 'Dockerfile'), scratchDockerfile('rootfs.tar', { ...context.imageConfig, Labels: labels }))
          await container.buildImage(tag, join(workDir!, 'Dockerfile'), workDir!)
          context.snapshotRef = tag
        },
      },
    ]
  },

  snapshotExists: (snapshotRef) => container.imageExists(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, container.buildImage),

  // TODO(run config): replay and fail closed on what `container run` lets a bottle have.
  async runOfSnapshot() {
    return undefined
  },

  async boot(bottle, source, { report }) {
    const labels = (await container.imageExists(source)) ? ((await container.imageConfig(source)).Labels ?? {}) : {}
    const { present, missing } = resupply((labels[LABELS.secretEnv] ?? '').split(',').filter(Boolean))
    if (missing.length > 0) report(`not in this environment, so not supplied: ${missing.join(', ')}`)
    await container.runDetached(containerName(bottle.slug), source, containerLabels(bottle), present.map((name) => `${name}=${process.env[name]}`))
    return []
  },

  restart: (slug) => container.startContainer(containerName(slug)),

  async initTempDirs(slug) {
    await container.execAsRoot(containerName(slug), ['sh', '-c', TEMP_DIRS_INIT])
  },

  remove: (slug) => container.deleteContainer(containerName(slug)),

  shellCommand: (slug) => container.shellArgv(containerName(slug), SHELL),

  async keepSnapshot(slug, latestRef, n) {
    const ref = numberedTag(slug, n)
    await container.tagImage(latestRef, ref)
    return { ref, sizeBytes: await container.imageSize(ref) }
  },

  removeSnapshot: (ref) => container.deleteImage(ref),

  async copySnapshot(ref, slug) {
    const tag = committedTag(slug)
    await container.tagImage(ref, tag)
    return tag
  },

  async layersOf() {
    throw new UsageError('--base is supported for docker bottles only')
  },

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut }) {
    if (leaveOut.length > 0) throw new UsageError('--base is supported for docker bottles only')
    const compress = compressing(compression)
    await runPipeline([container.saveArgv(snapshotRef), ...compress.commands], { transforms: compress.transforms, output: sink })
    return { droppedLayers: 0 }
  },

  async loadSnapshot(payload, compression, snapshotRef) {
    // `container image load` reads a file, not stdin: decompress into scratch space first.
    const work = await makeWorkDir('import')
    try {
      const decompress = decompressing(compression)
      const file = join(work.path, 'image.oci.tar')
      await runPipeline(decompress.commands, { input: payload, transforms: decompress.transforms, output: createWriteStream(file) })
      await container.loadImage(file)
    } finally {
      await work.remove()
    }
    return snapshotRef
  },

  async adoptSnapshot(loaded, slug) {
    const tag = committedTag(slug)
    if (loaded !== tag) {
      await container.tagImage(loaded, tag)
      await container.deleteImage(loaded)
    }
    return tag
  },

  async pushSnapshot() {
    throw new UsageError('--to is supported for docker bottles only; export macos-container bottles with --output')
  },

  async pullSnapshot() {
    throw new UsageError('importing from a registry is supported for docker bottles only')
  },

  discardSnapshot: (reference) => container.deleteImage(reference),

  // TODO(run config): mounts of Apple containers.
  forkRun: async (run) => run,
  volumesOf: async () => [],
  saveVolume: async () => {
    throw new UsageError('volumes travel for docker bottles only')
  },
  volumeInUse: async () => false,
  loadVolume: async () => {
    throw new UsageError('volumes travel for docker bottles only')
  },
}
