// The smolmachines backend: a bottle is the smolvm microVM bot-bottle-<slug>. A VM boots from a
// `.smolmachine` pack, and smolvm packs only images it pulls from a registry, so every image goes
// docker build → docker save → a temporary registry on loopback → smolvm pack create.
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { copyFile, link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { registerCleanup } from '../cleanup.ts'
import { compressing, decompressing } from '../compression.ts'
import { settings } from '../config.ts'
import * as docker from '../docker.ts'
import { OperationError, UsageError } from '../errors.ts'
import { scratchDockerfile } from '../image-config.ts'
import { LABELS, SHELL, bottleLabels, committedTag, containerName } from '../names.ts'
import { runPipeline } from '../pipeline.ts'
import { runStepsInline, type Step } from '../progress.ts'
import { pushTarball, startEphemeralRegistry, type EphemeralRegistry } from '../registry.ts'
import * as smolvm from '../smolvm.ts'
import { stateDir, stateRoot } from '../state.ts'
import { makeWorkDir } from '../workdir.ts'
import { ownBottles, toStatus } from './shared.ts'
import { rebuildSource } from './rebuild.ts'
import type { ActiveBottle, Bottle, BottleBackend, CommitContext } from './types.ts'

const VM_ARCHIVE = '/var/tmp/.bot-bottle-commit.tar.gz'
// /tmp and /var/tmp stay out: the pack step remaps owners, and stale temp dirs with a foreign
// owner break agents on resume. Every boot recreates them.
const ROOTFS_EXCLUDES = ['./proc', './sys', './dev', './run', './tmp', './var/tmp'].map((path) => `--exclude=${path}`)
const BOOT_INIT = 'mkdir -p /tmp /var/tmp && chown -R node:node /home/node && chown root:root /tmp /var/tmp && chmod 1777 /tmp /var/tmp'
export const COMMITTED_PACK = 'committed-smolmachine'

const machineLabels = (bottle: Bottle) => ({ [LABELS.slug]: bottle.slug, [LABELS.stateRoot]: stateRoot() })
const packCacheDir = (imageId: string) => join(stateRoot(), 'cache', 'smolmachines', imageId.replace(/^sha256:/, ''))

/** What the pack pipeline works on: an image in the engine → `output` + `output`.smolmachine. */
interface PackContext {
  imageRef?: string
  output?: string
  workDir?: string
  tarball?: string
  registry?: EphemeralRegistry
  target?: string
}

interface SmolCommit extends CommitContext, PackContext {}

/**
 * docker save → a temporary registry on loopback → push → smolvm pack create: the steps a commit
 * shows, and the ones a pack of an image for the cache runs inside its boot step. The registry is
 * registered for removal before it is created, so success, failure and Ctrl-C all tear it down.
 */
function packSteps<C extends PackContext>(): Step<C>[] {
  return [
    {
      title: 'Save the image (docker save)',
      run: async (context) => {
        context.workDir ??= (await makeWorkDir('pack')).path
        context.tarball = join(context.workDir, 'image.tar')
        await runPipeline([docker.saveArgv(context.imageRef!)], { output: createWriteStream(context.tarball) })
      },
    },
    {
      title: 'Start a temporary registry on loopback',
      run: async (context, report) => {
        context.registry = await startEphemeralRegistry(settings().registryImage)
        report(`listening on ${context.registry.address}`)
      },
    },
    {
      title: 'Push the image to it',
      run: async (context, report) => {
        const { id } = await docker.inspectImage(context.imageRef!)
        context.target = `${context.registry!.address}/bot-bottle-pack:${id.replace(/^sha256:/, '').slice(0, 16)}`
        report(`pushed ${context.target} with ${await pushTarball(context.tarball!, context.imageRef!, context.target)}`)
      },
    },
    {
      // Packed under a temporary name, then renamed: an interrupted pack leaves the previous one usable.
      title: 'Pack the smolmachine (smolvm pack create)',
      run: async (context) => {
        const output = context.output!
        const partial = `${output}.partial`
        const forget = registerCleanup(async () => {
          await rm(partial, { force: true })
          await rm(`${partial}.smolmachine`, { force: true })
        })
        await smolvm.packImage(context.target!, partial)
        await rename(`${partial}.smolmachine`, `${output}.smolmachine`)
        await rename(partial, output)
        forget()
      },
    },
    {
      title: 'Remove the temporary registry',
      run: async (context) => {
        await context.registry!.stop()
      },
    },
  ]
}

/** The pack of an image, from the cache keyed by the image's digest, packing it on a miss. */
async function cachedPack(imageRef: string, report: (message: string) => void = () => {}): Promise<string> {
  if (!(await docker.imageExists(imageRef))) await docker.pullImage(imageRef)
  const { id } = await docker.inspectImage(imageRef)
  const dir = packCacheDir(id)
  const artifact = join(dir, 'machine.smolmachine')
  if (existsSync(artifact)) {
    report(`cached pack for ${id.slice(0, 19)}: skipped save, registry, push and pack`)
    return artifact
  }
  await mkdir(dir, { recursive: true })
  const work = await makeWorkDir('pack')
  try {
    await runStepsInline(packSteps<PackContext>(), { imageRef, output: join(dir, 'machine'), workDir: work.path }, report)
  } finally {
    await work.remove()
  }
  return artifact
}

async function waitUntilExecAnswers(name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 50
  for (;;) {
    const probe = await smolvm.exec(name, ['true'])
    if (probe.exitCode === 0) return
    if (Date.now() > deadline) throw new OperationError(`VM ${name} did not answer exec within ${timeoutMs / 1000} s: ${probe.stderr.trim()}`)
    await new Promise((resolve) => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 1000)
  }
}

async function bootFrom(bottle: Bottle, source: string, report: (message: string) => void = () => {}): Promise<void> {
  const artifact = source.endsWith('.smolmachine') ? source : await cachedPack(source, report)
  const name = containerName(bottle.slug)
  await smolvm.createFromPack(name, artifact, machineLabels(bottle))
  await smolvm.startMachine(name)
  await waitUntilExecAnswers(name)
}

export const smolmachinesBackend: BottleBackend = {
  name: 'smolmachines',

  async listActive(): Promise<ActiveBottle[]> {
    return ownBottles((await smolvm.listMachines()).map((machine) => ({ name: machine.name, state: machine.state, stateRoot: machine.labels?.[LABELS.stateRoot] })))
  },

  status: async (slug) => toStatus((await smolvm.listMachines()).find((machine) => machine.name === containerName(slug))?.state),

  async start(bottle, image) {
    await bootFrom(bottle, image)
    await this.initTempDirs(bottle.slug)
  },

  commitSteps() {
    const machine = (context: SmolCommit) => containerName(context.bottle.slug)
    return [
      {
        title: 'Check that the VM answers exec',
        run: async (context: SmolCommit) => {
          const probe = await smolvm.exec(machine(context), ['true'])
          if (probe.exitCode !== 0) {
            throw new OperationError(
              `smolvm refused an exec into ${machine(context)} (${(probe.stderr || probe.stdout).trim() || `exit ${probe.exitCode}`}): ` +
                'smolvm may refuse a second exec while an interactive session runs in the VM; end or detach that session and commit again',
            )
          }
        },
      },
      {
        title: 'Write a gzip tar of / inside the VM',
        run: async (context: SmolCommit) => {
          const name = machine(context)
          // The archive in the VM goes whatever happens, also on failure and Ctrl-C.
          registerCleanup(() => smolvm.exec(name, ['rm', '-f', VM_ARCHIVE]).then(() => {}))
          const tar = await smolvm.exec(name, ['tar', '--create', '--gzip', ...ROOTFS_EXCLUDES, `--file=${VM_ARCHIVE}`, '--directory=/', '.'])
          // tar's exit 1 means files changed while being read: expected in a live VM.
          if ((tar.exitCode ?? 2) > 1) throw new OperationError(`tar in the VM failed (exit ${tar.exitCode}): ${tar.stderr.trim()}`)
        },
      },
      {
        title: 'Copy the archive out of the VM',
        run: async (context: SmolCommit) => {
          context.workDir = (await makeWorkDir('commit')).path
          await smolvm.copyOut(machine(context), VM_ARCHIVE, join(context.workDir, 'rootfs.tar.gz'))
        },
      },
      {
        title: 'Remove the archive from the VM',
        run: async (context: SmolCommit) => {
          await smolvm.execOrThrow(machine(context), ['rm', '-f', VM_ARCHIVE])
        },
      },
      {
        title: 'Build the image FROM scratch + the archive',
        run: async (context: SmolCommit) => {
          const { bottle, workDir } = context
          const labels = { ...bottleLabels(bottle), [LABELS.committedAt]: new Date().toISOString() }
          await writeFile(join(workDir!, 'Dockerfile'), scratchDockerfile('rootfs.tar.gz', { Labels: labels }))
          await docker.buildImage(committedTag(bottle.slug), join(workDir!, 'Dockerfile'), workDir!)
          context.imageRef = committedTag(bottle.slug)
          context.output = join(stateDir(bottle.slug), COMMITTED_PACK)
        },
      },
      ...packSteps<SmolCommit>(),
      {
        title: 'Record the pack as the snapshot',
        run: async (context: SmolCommit) => {
          context.snapshotRef = `${context.output}.smolmachine`
        },
      },
    ]
  },

  snapshotExists: async (snapshotRef) => snapshotRef.endsWith('.smolmachine') && existsSync(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, docker.buildImage),

  // TODO(run config): replay cpus, memory, network and volumes of the VM.
  async runOfSnapshot() {
    return undefined
  },

  async boot(bottle, source, { report }) {
    await bootFrom(bottle, source, report)
    return []
  },

  async restart(slug) {
    await smolvm.startMachine(containerName(slug))
    await waitUntilExecAnswers(containerName(slug))
  },

  async initTempDirs(slug) {
    // The pack step remaps file owners: give the agent its home back and /tmp its sticky bit.
    await smolvm.execOrThrow(containerName(slug), ['sh', '-c', BOOT_INIT])
  },

  async remove(slug) {
    await smolvm.deleteMachine(containerName(slug))
  },

  shellCommand: (slug) => smolvm.shellArgv(containerName(slug), SHELL),

  async keepSnapshot(slug, latestRef, n) {
    // A hard link: the next commit renames a new pack over the latest one, this one stays.
    const dir = join(stateDir(slug), 'snapshots')
    await mkdir(dir, { recursive: true })
    const ref = join(dir, `${n}.smolmachine`)
    await rm(ref, { force: true })
    await link(latestRef, ref)
    return { ref, sizeBytes: (await stat(ref)).size }
  },

  removeSnapshot: (ref) => rm(ref, { force: true }),

  async copySnapshot(ref, slug, stagedDir) {
    await copyFile(ref, join(stagedDir, `${COMMITTED_PACK}.smolmachine`))
    return join(stateDir(slug), `${COMMITTED_PACK}.smolmachine`)
  },

  async layersOf() {
    throw new UsageError('--base is supported for docker bottles only')
  },

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut }) {
    if (leaveOut.length > 0) throw new UsageError('--base is supported for docker bottles only')
    const compress = compressing(compression)
    await runPipeline(compress.commands, { input: createReadStream(snapshotRef), transforms: compress.transforms, output: sink })
    return { droppedLayers: 0 }
  },

  async loadSnapshot(payload, compression) {
    const work = await makeWorkDir('import')
    const file = join(work.path, `${COMMITTED_PACK}.smolmachine`)
    const decompress = decompressing(compression)
    await runPipeline(decompress.commands, { input: payload, transforms: decompress.transforms, output: createWriteStream(file) })
    return file
  },

  async adoptSnapshot(loaded, slug, stagedDir) {
    await rename(loaded, join(stagedDir, `${COMMITTED_PACK}.smolmachine`))
    return join(stateDir(slug), `${COMMITTED_PACK}.smolmachine`)
  },

  async pushSnapshot() {
    throw new UsageError('--to is supported for docker bottles only; export smolmachines bottles with --output')
  },

  async pullSnapshot() {
    throw new UsageError('importing from a registry is supported for docker bottles only')
  },

  discardSnapshot: (reference) => rm(reference, { force: true }),

  // TODO(run config): volumes of VMs.
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
