// The macos-container backend: a bottle is the Apple container bot-bottle-<slug>.
// Apple containers vanished when stopped in older releases, so a commit never stops one: it
// streams a tar of / out of the running container and rebuilds that as an image FROM scratch.
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compressing, decompressing } from '../compression.ts'
import * as container from '../container.ts'
import { OperationError, UsageError } from '../errors.ts'
import { LABELS, SHELL, bottleLabels, committedTag, containerLabels, containerName, numberedTag } from '../names.ts'
import { scratchDockerfile, type ImageConfig } from '../image-config.ts'
import { bootWithoutRecord, checkPlatform, parseRunConfig, refuseOtherBackend, relaxOrRefuse, runConfigOf, type AppleRun, type Platform, type Relaxing } from '../run-config.ts'
import { allowedEnv } from '../origin.ts'
import { recordedSecretNames, resupply, secretNames, withoutSecrets } from '../secrets.ts'
import { readRunConfig } from '../state.ts'
import { namedOnly } from '../payload-names.ts'
import { runPipeline } from '../pipeline.ts'
import { makeWorkDir } from '../workdir.ts'
import { TEMP_DIRS_INIT, loadedHere, ownBottles, toStatus, wholeSnapshots } from './shared.ts'
import { rebuildSource } from './rebuild.ts'
import type { ActiveBottle, BootOptions, Bottle, BottleBackend, CommitContext } from './types.ts'

const ROOTFS_EXCLUDES = ['./proc', './sys', './dev', './run'].map((path) => `--exclude=${path}`)

interface AppleCommit extends CommitContext {
  workDir?: string
  imageConfig?: ImageConfig
}

async function find(slug: string) {
  return (await container.listContainers()).find((entry) => entry.id === containerName(slug))
}

const nameOf = (entry: string) => entry.split('=', 1)[0]!

/**
 * How the container runs, from `container inspect` (ContainerConfiguration) and the modes of its
 * networks: what `container run` let it have beyond its image.
 */
/** What Apple's `container` adds: every container runs in a lightweight VM of its own. */
const APPLE_PLATFORM: Platform = { name: "Apple's container (a VM for each container)", vm: true, rootless: false, userns: false, apparmor: false, selinux: false }

function recordRun(details: container.ContainerDetails, imageEnv: string[], modes: Map<string, string>): AppleRun {
  const fromImage = new Set(imageEnv)
  const mounts = details.mounts
  const other = mounts.filter((mount) => mount.kind === 'other')
  return {
    backend: 'macos-container',
    platform: APPLE_PLATFORM,
    // No attachment at all is `--network none`, not the default network.
    networks: details.networks.length > 0 ? details.networks : ['none'],
    internalNetworks: details.networks.filter((network) => modes.get(network) === 'hostOnly'),
    cpus: details.cpus,
    memoryBytes: details.memoryBytes,
    mounts: mounts.filter((mount) => mount.kind === 'virtiofs').map((mount) => ({ source: mount.source, target: mount.target, readOnly: mount.options.includes('ro') })),
    volumes: mounts.filter((mount) => mount.kind === 'volume').map((mount) => ({ name: mount.volume ?? mount.source, target: mount.target, readOnly: mount.options.includes('ro') })),
    tmpfs: mounts.filter((mount) => mount.kind === 'tmpfs').map((mount) => ({ target: mount.target, options: mount.options })),
    // Kept so that resume can refuse them by name, rather than boot without them in silence.
    ...(other.length > 0 ? { otherMounts: other.map((mount) => ({ type: mount.type, source: mount.source, target: mount.target })) } : {}),
    user: details.user,
    workdir: details.workdir,
    // What the run added or changed, by name (the values go into the snapshot's env).
    envNames: [...new Set(details.env.filter((entry) => !fromImage.has(entry)).map(nameOf))],
    readOnly: details.readOnly,
    dns: details.dns,
  }
}

/**
 * What `container run` needs to reproduce `run` here, checked before anything runs: networks that
 * exist (as internal as recorded), bind sources that exist, named volumes that still hold their data.
 */
async function replay(run: AppleRun, plan: Relaxing): Promise<Omit<container.RunSpec, 'name' | 'image' | 'labels'>> {
  const networks = run.networks.filter((network) => network !== 'none' && network !== 'default')
  const modes = networks.length > 0 ? await container.listNetworks() : new Map<string, string>()
  const create: string[] = []
  for (const network of networks) {
    const mode = modes.get(network)
    const internal = run.internalNetworks.includes(network)
    if (mode === undefined) {
      relaxOrRefuse(plan, 'networks', `network ${network} is not on this host`)
      create.push(network)
    } else if (internal && mode !== 'hostOnly') relaxOrRefuse(plan, 'networks', `network ${network} exists on this host but is not internal (host-only)`)
  }
  const binds = run.mounts.filter((bind) => {
    if (existsSync(bind.source)) return true
    relaxOrRefuse(plan, 'binds', `bind-mounted host path ${bind.source} does not exist on this host`)
    return false
  })
  for (const mount of run.otherMounts ?? []) {
    relaxOrRefuse(plan, 'binds', `the ${mount.type} mount ${mount.source} at ${mount.target} cannot be made again with container run`)
  }
  for (const volume of run.volumes) {
    // `container run` would make a missing volume again, empty, with only a warning.
    if (!(await container.volumeExists(volume.name))) relaxOrRefuse(plan, 'volumes', `volume ${volume.name} is gone from this host (its data would be lost)`)
  }
  // Relaxed, a missing network is made again as it was recorded (an internal one stays internal).
  for (const network of create) {
    await container.createNetwork(network, run.internalNetworks.includes(network))
    plan.report(`created network ${network}${run.internalNetworks.includes(network) ? ' (internal)' : ''}`)
  }
  return {
    networks: run.networks.filter((network) => network !== 'default' || run.networks.length > 1),
    binds,
    volumes: run.volumes,
    tmpfs: run.tmpfs,
    cpus: run.cpus,
    memoryBytes: run.memoryBytes,
    user: run.user,
    workdir: run.workdir,
    readOnly: run.readOnly,
    dns: run.dns,
  }
}

/** The image's environment with the run's values over it, then the run's own variables. */
function withRunEnv(imageEnv: string[], runEnv: string[]): string[] {
  const values = new Map(runEnv.map((entry) => [nameOf(entry), entry]))
  const inImage = new Set(imageEnv.map(nameOf))
  return [...imageEnv.map((entry) => values.get(nameOf(entry)) ?? entry), ...runEnv.filter((entry) => !inImage.has(nameOf(entry)))]
}

const loadedImages = loadedHere()
/** What a payload is loaded as until adopt names it for its slug: a name no image here has. */
const importTag = () => `bot-bottle-import-${randomBytes(6).toString('hex')}:latest`

export const macosContainerBackend: BottleBackend = {
  name: 'macos-container',

  async listActive(): Promise<ActiveBottle[]> {
    return ownBottles((await container.listContainers()).map((entry) => ({ name: entry.id, state: entry.state, stateRoot: entry.labels[LABELS.stateRoot] })))
  },

  status: async (slug) => toStatus((await find(slug))?.state),
  // Its CLI lists no changes since the image: watch cannot tell, and commits on every turn.
  changedSince: async () => ({ changed: undefined }),

  start: (bottle, image) => container.runDetached({ name: containerName(bottle.slug), image, labels: containerLabels(bottle) }),

  commitSteps() {
    return [
      {
        title: 'Read how the container runs and its image settings (user, workdir, env, entrypoint, cmd)',
        run: async (context: AppleCommit) => {
          const name = containerName(context.bottle.slug)
          const running = await find(context.bottle.slug)
          if (!running?.image) throw new OperationError(`container ${name} is not there`)
          const [imageConfig, details, modes, recorded] = await Promise.all([container.imageConfig(running.image), container.inspectContainer(name), container.listNetworks(), readRunConfig(context.bottle.slug)])
          const env = imageConfig.Env ?? []
          // A re-commit keeps secret what the last record (and the snapshot it runs from) called secret.
          const alreadySecret = recordedSecretNames(recorded?.run, imageConfig.Labels?.[LABELS.secretEnv])
          context.secretNames = secretNames([...env, ...details.env], context.bottle.metadata, alreadySecret)
          // The snapshot keeps the values the run gave (as docker commit does); credentials, baked into
          // the image's settings or given to the run, stay out of it.
          context.imageConfig = { ...imageConfig, Env: withoutSecrets(withRunEnv(env, details.env), context.bottle.metadata, alreadySecret) }
          context.run = recordRun(details, env, modes)
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
            [LABELS.runConfig]: JSON.stringify(runConfigOf(context.run!)),
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

  async runOfSnapshot(snapshotRef) {
    if (!(await container.imageExists(snapshotRef))) return undefined
    const label = (await container.imageConfig(snapshotRef)).Labels?.[LABELS.runConfig]
    return label ? parseRunConfig(label, `label ${LABELS.runConfig} of ${snapshotRef}`).run : undefined
  },

  async boot(bottle: Bottle, source: string, { run, rebuilt, relax, report, held }: BootOptions) {
    const config = (await container.imageExists(source)) ? await container.imageConfig(source) : {}
    const labels = config.Labels ?? {}
    const secrets = (labels[LABELS.secretEnv] ?? '').split(',').filter(Boolean)
    // Snapshots before the run's values were kept name them only: this host's environment supplies those.
    const inImage = new Set((config.Env ?? []).map(nameOf))
    const base = { name: containerName(bottle.slug), image: source, labels: containerLabels(bottle) }
    refuseOtherBackend(run, 'macos-container')
    const plan: Relaxing = { relax, relaxed: [], report }
    if (!run) {
      bootWithoutRecord(plan, { rebuilt, composeProject: bottle.metadata.compose_project })
      await container.runDetached({ ...base, envFromHost: resupply(allowedEnv(secrets, held), report) })
      return plan.relaxed
    }
    checkPlatform(plan, run, APPLE_PLATFORM)
    const spec = await replay(run, plan)
    await container.runDetached({ ...base, ...spec, envFromHost: resupply(allowedEnv([...secrets, ...run.envNames.filter((name) => !inImage.has(name))], held), report) })
    return plan.relaxed
  },

  restart: (slug) => container.startContainer(containerName(slug)),

  async initTempDirs(slug) {
    // A read-only root filesystem is left as it is (as the docker backend does).
    await container.execAsRoot(containerName(slug), ['sh', '-c', `grep -qE '^[^ ]+ / [^ ]+ ro[, ]' /proc/mounts || { ${TEMP_DIRS_INIT}; }`])
  },

  remove: (slug) => container.deleteContainer(containerName(slug)),

  shellCommand: (slug) => container.shellArgv(containerName(slug), SHELL),

  async keepSnapshot(slug, latestRef, n) {
    const ref = numberedTag(slug, n)
    await container.tagImage(latestRef, ref)
    return { ref, sizeBytes: await container.imageSize(ref) }
  },

  removeSnapshots: (refs) => container.deleteImages(refs),

  async copySnapshot(ref, slug) {
    const tag = committedTag(slug)
    await container.tagImage(ref, tag)
    return tag
  },

  layersOf: wholeSnapshots.layersOf,
  partialLoadProblem: wholeSnapshots.partialLoadProblem,

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut }) {
    wholeSnapshots.refuseLeaveOut(leaveOut)
    const compress = compressing(compression)
    await runPipeline([container.saveArgv(snapshotRef), ...compress.commands], { transforms: compress.transforms, output: sink })
    return { droppedLayers: 0 }
  },

  async loadSnapshot(payload, compression) {
    // `container image load` applies the names inside the archive: it gets a copy named only by a
    // name of this import's own, so that a payload naming another image (debian:bookworm-slim,
    // another bottle's snapshot) repoints nothing here. The loader reads a file, not stdin:
    // decompress into scratch space first.
    const loaded = importTag()
    const work = await makeWorkDir('import')
    try {
      const decompress = decompressing(compression)
      const file = join(work.path, 'image.oci.tar')
      await runPipeline(decompress.commands, { input: payload, transforms: [...decompress.transforms, namedOnly(loaded)], output: createWriteStream(file) })
      loadedImages.note(loaded, false)
      await container.loadImage(file)
    } finally {
      await work.remove()
    }
    return loaded
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

  discardSnapshot: async (reference) => {
    if (loadedImages.has(reference)) await container.deleteImage(reference)
  },

  // A fork keeps the networks and host directories of the bottle it forks. Its named volumes it
  // cannot copy (yet): sharing them would let the fork write into the other bottle's data.
  async forkRun(run, from) {
    const volumes = run.backend === 'macos-container' ? run.volumes.map((volume) => volume.name) : []
    if (volumes.length > 0) throw new OperationError(`bottle "${from.slug}" has named volumes (${volumes.join(', ')}): a macos-container fork cannot have copies of them yet, and would share them with it`)
    return run
  },
  volumesOf: async (run) => (run.backend === 'macos-container' ? run.volumes.map((volume) => ({ name: volume.name, target: volume.target, sizeBytes: -1 })) : []),
  saveVolume: async (name) => {
    throw new UsageError(`volume ${name}: named volumes of macos-container bottles cannot travel in a bundle yet; export with --no-volumes (the bundle then says which it left out)`)
  },
  volumeInUse: async () => false,
  loadVolume: async () => {
    throw new UsageError('volumes travel for docker bottles only')
  },
}
