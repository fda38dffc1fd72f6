// The smolmachines backend: a bottle is the smolvm microVM bot-bottle-<slug>. A VM boots from a
// `.smolmachine` pack, and smolvm packs only images it pulls from a registry, so every image goes
// docker build → docker save → a temporary registry on loopback → smolvm pack create.
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { copyFile, link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { OperationError, UsageError, registerCleanup } from '../cli.ts'
import { compressor, decompressor } from '../compression.ts'
import { settings } from '../config.ts'
import * as docker from '../docker.ts'
import { scratchDockerfile } from '../image-config.ts'
import { runPipeline } from '../pipeline.ts'
import { pushTarball, startEphemeralRegistry, type EphemeralRegistry } from '../registry.ts'
import * as smolvm from '../smolvm.ts'
import { stateDir, stateRoot } from '../state.ts'
import { makeWorkDir } from '../workdir.ts'
import { bottleLabels, committedTag, containerName } from './docker.ts'
import { ownBottles, toStatus } from './shared.ts'
import { rebuildSource } from './rebuild.ts'
import type { ActiveBottle, Bottle, BottleBackend, CommitContext } from './types.ts'

const VM_ARCHIVE = '/var/tmp/.bot-bottle-commit.tar.gz'
// /tmp and /var/tmp stay out: the pack step remaps owners, and stale temp dirs with a foreign
// owner break agents on resume. Every boot recreates them.
const ROOTFS_EXCLUDES = ['./proc', './sys', './dev', './run', './tmp', './var/tmp'].map((path) => `--exclude=${path}`)
const BOOT_INIT = 'mkdir -p /tmp /var/tmp && chown -R node:node /home/node && chown root:root /tmp /var/tmp && chmod 1777 /tmp /var/tmp'
export const COMMITTED_PACK = 'committed-smolmachine'

const machineLabels = (bottle: Bottle) => ({ [docker.LABELS.slug]: bottle.slug, [docker.LABELS.stateRoot]: stateRoot() })
const packCacheDir = (imageId: string) => join(stateRoot(), 'cache', 'smolmachines', imageId.replace(/^sha256:/, ''))

interface SmolCommit extends CommitContext {
  workDir?: string
  tarball?: string
  registry?: EphemeralRegistry
  target?: string
}

/** The four stages from a Docker image to a `.smolmachine`, as steps of their own. */
const pack = {
  async save(imageRef: string, workDir: string): Promise<string> {
    const tarball = join(workDir, 'image.tar')
    await runPipeline([docker.saveCommand(imageRef)], { output: createWriteStream(tarball) })
    return tarball
  },
  /** Registered for removal before it is created: success, failure and Ctrl-C all tear it down. */
  startRegistry: () => startEphemeralRegistry(settings().registryImage),
  async push(tarball: string, imageRef: string, registry: EphemeralRegistry): Promise<{ target: string; tool: string }> {
    const { id } = await docker.inspectImage(imageRef)
    const target = `${registry.address}/bot-bottle-pack:${id.replace(/^sha256:/, '').slice(0, 16)}`
    return { target, tool: await pushTarball(tarball, imageRef, target) }
  },
  /** Packed under a temporary name, then renamed: an interrupted pack leaves the previous one usable. */
  async create(target: string, output: string): Promise<void> {
    const partial = `${output}.partial`
    const forget = registerCleanup(async () => {
      await rm(partial, { force: true })
      await rm(`${partial}.smolmachine`, { force: true })
    })
    await smolvm.packImage(target, partial)
    await rename(`${partial}.smolmachine`, `${output}.smolmachine`)
    await rename(partial, output)
    forget()
  },
}

/** docker save → temporary registry → push → smolvm pack create -o `output` (+ `output`.smolmachine). */
async function packImage(imageRef: string, output: string, report: (message: string) => void): Promise<void> {
  const work = await makeWorkDir('pack')
  try {
    report('saving the image')
    const tarball = await pack.save(imageRef, work.path)
    report('starting a temporary registry')
    const registry = await pack.startRegistry()
    try {
      const { target, tool } = await pack.push(tarball, imageRef, registry)
      report(`packing ${target} (pushed with ${tool})`)
      await pack.create(target, output)
    } finally {
      await registry.stop()
    }
  } finally {
    await work.remove()
  }
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
  await packImage(imageRef, join(dir, 'machine'), report)
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
    return ownBottles((await smolvm.listMachines()).map((machine) => ({ name: machine.name, state: machine.state, stateRoot: machine.labels?.[docker.LABELS.stateRoot] })))
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
          const labels = { ...bottleLabels(bottle), [docker.LABELS.committedAt]: new Date().toISOString() }
          await writeFile(join(workDir!, 'Dockerfile'), scratchDockerfile('rootfs.tar.gz', { Labels: labels }))
          await docker.buildImage(committedTag(bottle.slug), join(workDir!, 'Dockerfile'), workDir!)
        },
      },
      {
        title: 'Save the image (docker save)',
        run: async (context: SmolCommit) => {
          context.tarball = await pack.save(committedTag(context.bottle.slug), context.workDir!)
        },
      },
      {
        title: 'Start a temporary registry on loopback',
        run: async (context: SmolCommit, report: (message: string) => void) => {
          context.registry = await pack.startRegistry()
          report(`listening on ${context.registry.address}`)
        },
      },
      {
        title: 'Push the image to it',
        run: async (context: SmolCommit, report: (message: string) => void) => {
          const pushed = await pack.push(context.tarball!, committedTag(context.bottle.slug), context.registry!)
          context.target = pushed.target
          report(`pushed ${pushed.target} with ${pushed.tool}`)
        },
      },
      {
        title: 'Pack the smolmachine (smolvm pack create)',
        run: async (context: SmolCommit) => {
          const output = join(stateDir(context.bottle.slug), COMMITTED_PACK)
          await pack.create(context.target!, output)
          context.snapshotRef = `${output}.smolmachine`
        },
      },
      {
        title: 'Remove the temporary registry',
        run: async (context: SmolCommit) => {
          await context.registry!.stop()
        },
      },
    ]
  },

  snapshotExists: async (snapshotRef) => snapshotRef.endsWith('.smolmachine') && existsSync(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, docker.buildImage),

  boot: (bottle, source, report) => bootFrom(bottle, source, report),

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

  shellCommand: (slug) => ['smolvm', 'machine', 'exec', '--name', containerName(slug), '-i', '-t', '--', 'sh', '-c', 'command -v bash >/dev/null && exec bash || exec sh'],

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
    const compress = compressor(compression)
    await runPipeline(compress.command ? [compress.command] : [], { input: createReadStream(snapshotRef), transforms: compress.transform ? [compress.transform] : [], output: sink })
    return { droppedLayers: 0 }
  },

  async loadSnapshot(payload, compression) {
    const work = await makeWorkDir('import')
    const file = join(work.path, `${COMMITTED_PACK}.smolmachine`)
    const decompress = decompressor(compression)
    await runPipeline(decompress.command ? [decompress.command] : [], { input: payload, transforms: decompress.transform ? [decompress.transform] : [], output: createWriteStream(file) })
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
}
