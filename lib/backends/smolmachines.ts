// The smolmachines backend: a bottle is the smolvm microVM bot-bottle-<slug>. A VM boots from a
// `.smolmachine` pack, and smolvm packs only images it pulls from a registry, so every image goes
// docker build → docker save → a temporary registry on loopback → smolvm pack create.
// smolvm 1.9 runs `machine exec` as the image's USER and has no option for another user, while
// commits and boots need root (tar of /, owners, /tmp): the packs made here run as root, and the
// agent's user (the image's USER) travels in the run configuration, the machine's environment
// (BOT_BOTTLE_USER) and the shell command, which drops to it.
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { registerCleanup } from '../cleanup.ts'
import { compressing, decompressing } from '../compression.ts'
import { settings } from '../config.ts'
import * as docker from '../docker.ts'
import { OperationError, ToolError, UsageError, lastLines } from '../errors.ts'
import { scratchDockerfile } from '../image-config.ts'
import { LABELS, bottleLabels, committedTag, containerName } from '../names.ts'
import { runPipeline } from '../pipeline.ts'
import { runStepsInline, type Step } from '../progress.ts'
import { pushTarball, startEphemeralRegistry, type EphemeralRegistry } from '../registry.ts'
import { bootWithoutRecord, checkPlatform, parseRunConfig, refuseOtherBackend, parseSmolRun, relaxOrRefuse, runConfigOf, type Platform, type Relaxing, type SmolRun } from '../run-config.ts'
import { allowedEnv } from '../origin.ts'
import { resupply } from '../secrets.ts'
import * as smolvm from '../smolvm.ts'
import { FILES, stateDir, stateRoot } from '../state.ts'
import { makeWorkDir } from '../workdir.ts'
import { ownBottles, toStatus, wholeSnapshots } from './shared.ts'
import { rebuildSource } from './rebuild.ts'
import type { ActiveBottle, BootOptions, Bottle, BottleBackend, CommitContext } from './types.ts'

const VM_ARCHIVE = '/var/tmp/.bot-bottle-commit.tar.gz'
// /tmp and /var/tmp stay out: packs may remap owners, and stale temp dirs with a foreign owner
// break agents on resume. Every boot recreates them. ./run also keeps HOST_ENV_FILE out of snapshots.
const ROOTFS_EXCLUDES = ['./proc', './sys', './dev', './run', './tmp', './var/tmp'].map((path) => `--exclude=${path}`)
/**
 * Where the values handed in from the host wait for the agent's shell (root's, mode 600). smolvm 1.9
 * has no way to give a machine made --from a pack an env value that is not on its argv and in its
 * record (`machine create --from` ignores --secret-env), so they go in on exec's stdin to a file
 * under /run, which commits leave out, and the shell reads them from there.
 */
const HOST_ENV_DIR = '/run/bot-bottle'
const HOST_ENV_FILE = `${HOST_ENV_DIR}/host-env`
// A /run that is a link (to /var/run, say) would put the file where a commit reads it: refused (exit 3).
// A /run/bot-bottle the image brought (a link, perhaps) is replaced, not written through.
const WRITE_HOST_ENV = `[ ! -L /run ] || exit 3; umask 077 && rm -rf ${HOST_ENV_DIR} && mkdir -p ${HOST_ENV_DIR} && cat > ${HOST_ENV_FILE}`
/** A variable name a shell can export: anything else in a record is refused rather than written into a script. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
export const COMMITTED_PACK = 'committed-smolmachine'
/** The user the agent runs as, in the VM's environment (exec itself runs as root). */
const AGENT_USER = 'BOT_BOTTLE_USER'
/** How a VM was created (its SmolRun), on the machine: what commit records. */
const RUN_LABEL = 'bot-bottle.run'
/** On a pack image: the user its source image ran as. */
const USER_LABEL = 'bot-bottle.user'
/** A pack's run configuration travels beside it (a pack keeps no labels of ours). */
const runFileOf = (pack: string) => `${pack}.run-config.json`

// Every boot: /tmp and /var/tmp exist, root's, mode 1777; where the pack gave files to the host's
// user, the agent's home goes back to the agent (the user named in $BOT_BOTTLE_USER, else root).
// Images without that user, or without a home for it, are left as they are.
const BOOT_INIT = [
  'mkdir -p /tmp /var/tmp && chown root:root /tmp /var/tmp && chmod 1777 /tmp /var/tmp',
  `spec="\${${AGENT_USER}:-root}"; user="\${spec%%:*}"`,
  'home=$(getent passwd "$user" | cut -d: -f6); uid=$(id -u "$user" 2>/dev/null) || exit 0',
  'case "$spec" in *:*) group="${spec#*:}" ;; *) group=$(id -g "$user") ;; esac',
  '[ -n "$home" ] && [ -d "$home" ] && [ "$(stat -c %u "$home")" != "$uid" ] && chown -R "$uid:$group" "$home"',
  'exit 0',
].join('\n')

// The shell a user opens: with the values handed in from the host (read as root, before dropping),
// as the agent's user (setpriv, else su, both keep the environment), with its home.
const SHELL_AS_AGENT = [
  `[ -r ${HOST_ENV_FILE} ] && . ${HOST_ENV_FILE}`,
  'shell="command -v bash >/dev/null && exec bash || exec sh"',
  `spec="\${${AGENT_USER}:-}"; user="\${spec%%:*}"`,
  'if [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] && [ "$(id -u)" = 0 ]; then',
  '  home=$(getent passwd "$user" | cut -d: -f6)',
  '  case "$spec" in *:*) group="${spec#*:}" ;; *) group=$(id -g "$user") ;; esac',
  '  command -v setpriv >/dev/null && exec setpriv --reuid="$user" --regid="$group" --init-groups env HOME="${home:-/}" USER="$user" sh -c "$shell"',
  '  exec su -s /bin/sh "$user" -c "$shell"',
  'fi',
  'exec sh -c "$shell"',
].join('\n')

const machineLabels = (bottle: Bottle, run: SmolRun) => ({
  [LABELS.slug]: bottle.slug,
  [LABELS.stateRoot]: stateRoot(),
  // base64url has no "=", which smolvm's KEY=VALUE labels would split on.
  [RUN_LABEL]: Buffer.from(JSON.stringify(run), 'utf8').toString('base64url'),
})
/**
 * How cached packs are made, in their path: a pack made another way is not reused. 2: packs run as
 * root, the image's user goes to the agent (1 ran as the image's USER: exec could not be root).
 */
const PACK_FORMAT = 2
const packCacheDir = (imageId: string) => join(stateRoot(), 'cache', 'smolmachines', `v${PACK_FORMAT}`, imageId.replace(/^sha256:/, ''))

/** What a bottle starts with when nothing was recorded: as `start` makes one (with the network). */
const defaultRun = (user: string | undefined): SmolRun => ({ backend: 'smolmachines', network: true, volumes: [], ports: [], envNames: [], ...(user ? { user } : {}) })

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
        try {
          await smolvm.packImage(context.target!, partial)
        } catch (error) {
          if (!smolvm.isPullFailure(error)) throw error
          // smolvm pulls inside a helper VM, whose loopback need not be this host's.
          throw new OperationError(
            `smolvm pack create could not pull ${context.target} from the temporary registry (${lastLines((error as ToolError).stderr, 1)}): ` +
              `it pulls from inside a helper VM, so ${context.registry!.address} must be reachable from smolvm's VMs (README, Backends)`,
          )
        }
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

/**
 * The pack of an image, from the cache keyed by the image's digest, packing it on a miss. The pack
 * runs as root (an image's USER would make exec run as it: see the top of this file); the image's
 * user is returned for the agent.
 */
async function cachedPack(imageRef: string, report: (message: string) => void = () => {}): Promise<{ artifact: string; user?: string }> {
  if (!(await docker.imageExists(imageRef))) await docker.pullImage(imageRef)
  const image = await docker.inspectImage(imageRef)
  const user = image.config.User || undefined
  const dir = packCacheDir(image.id)
  const artifact = join(dir, 'machine.smolmachine')
  if (existsSync(artifact)) {
    report(`cached pack for ${image.id.slice(0, 19)}: skipped save, registry, push and pack`)
    return { artifact, user }
  }
  await mkdir(dir, { recursive: true })
  const work = await makeWorkDir('pack')
  let packed = imageRef
  try {
    if (user) {
      packed = `bot-bottle-pack-source:${image.id.replace(/^sha256:/, '').slice(0, 16)}`
      await writeFile(join(work.path, 'Dockerfile'), `FROM ${image.id}\nUSER root\nLABEL ${USER_LABEL}=${JSON.stringify(user)}\n`)
      await docker.buildImage(packed, join(work.path, 'Dockerfile'), work.path)
    }
    await runStepsInline(packSteps<PackContext>(), { imageRef: packed, output: join(dir, 'machine'), workDir: work.path }, report)
  } finally {
    if (packed !== imageRef) await docker.untagImage(packed).catch(() => {})
    await work.remove()
  }
  return { artifact, user }
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

/**
 * How `machine create` makes the VM of `run`: everything on its argv (and in smolvm's record), so
 * no value from this host's environment, only the agent's user.
 */
export function machineSpec(bottle: Bottle, artifact: string, run: SmolRun): smolvm.MachineSpec {
  return {
    name: containerName(bottle.slug),
    artifact,
    labels: machineLabels(bottle, run),
    cpus: run.cpus,
    memoryMib: run.memoryMib,
    network: run.network,
    volumes: run.volumes,
    ports: run.ports,
    env: run.user ? [`${AGENT_USER}=${run.user}`] : [],
  }
}

/** The file the agent's shell reads: `export NAME='value'` for each of `names`, from this host's environment. */
export function hostEnvFile(names: string[]): string {
  return names.map((name) => `export ${name}='${(process.env[name] ?? '').replaceAll("'", `'\\''`)}'\n`).join('')
}

/**
 * Create and start the VM from a pack with `run`, wait until it answers, and hand in this host's
 * values of `handedIn` on exec's stdin (never an argv); a failure removes the VM.
 */
async function bootPack(bottle: Bottle, artifact: string, run: SmolRun, handedIn: string[]): Promise<void> {
  const spec = machineSpec(bottle, artifact, run)
  const forget = registerCleanup(() => smolvm.deleteMachine(spec.name).catch(() => {}))
  await smolvm.createFromPack(spec)
  await smolvm.startMachine(spec.name)
  await waitUntilExecAnswers(spec.name)
  if (handedIn.length > 0) {
    const written = await smolvm.execWithInput(spec.name, ['sh', '-c', WRITE_HOST_ENV], hostEnvFile(handedIn))
    if (written.exitCode === 3) throw new OperationError(`/run in VM ${spec.name} is a link: the values handed in from this host would land where a commit reads them, so they were not`)
    if (written.exitCode !== 0) throw new OperationError(`could not hand in ${handedIn.join(', ')} to VM ${spec.name} (exit ${written.exitCode}): ${written.stderr.trim()}`)
  }
  forget()
}

/** The run as this host can reproduce it: host directories that exist (or refused). */
function reproducible(run: SmolRun, plan: Relaxing): SmolRun {
  const volumes = run.volumes.filter((volume) => {
    if (existsSync(volume.host)) return true
    relaxOrRefuse(plan, 'binds', `host path ${volume.host} mounted at ${volume.guest} does not exist on this host`)
    return false
  })
  return { ...run, volumes }
}

/** What smolvm adds: every machine is a microVM with its own kernel. */
const SMOLVM_PLATFORM: Platform = { name: 'smolvm (a microVM for each machine)', vm: true, rootless: false, userns: false, apparmor: false, selinux: false }

/** The run a VM was created with (our label), with what smolvm itself lists for it. */
function runOfMachine(machine: smolvm.Machine | undefined, workdir: string | undefined, report: (message: string) => void): SmolRun {
  const label = machine?.labels?.[RUN_LABEL]
  const created: Partial<SmolRun> = label ? parseSmolRun(Buffer.from(label, 'base64url').toString('utf8'), `label ${RUN_LABEL} of VM ${machine!.name}`) : {}
  if (!label) report('the VM was not made by bottle-tasks: smolvm does not list its volumes, ports and env, so they are not recorded')
  return {
    backend: 'smolmachines',
    cpus: machine?.cpus ?? created.cpus,
    memoryMib: machine?.memory_mib ?? created.memoryMib,
    network: machine?.network ?? created.network ?? false,
    volumes: created.volumes ?? [],
    ports: created.ports ?? [],
    envNames: created.envNames ?? [],
    ...(workdir ? { workdir } : {}),
    ...(created.user ? { user: created.user } : {}),
    platform: SMOLVM_PLATFORM,
  }
}

export const smolmachinesBackend: BottleBackend = {
  name: 'smolmachines',

  async listActive(): Promise<ActiveBottle[]> {
    return ownBottles((await smolvm.listMachines()).map((machine) => ({ name: machine.name, state: machine.state, stateRoot: machine.labels?.[LABELS.stateRoot] })))
  },

  status: async (slug) => toStatus((await smolvm.listMachines()).find((machine) => machine.name === containerName(slug))?.state),
  // Its CLI lists no changes since the image: watch cannot tell, and commits on every turn.
  changedSince: async () => ({ changed: undefined }),

  async start(bottle, image) {
    const { artifact, user } = await cachedPack(image)
    await bootPack(bottle, artifact, defaultRun(user), [])
    await this.initTempDirs(bottle.slug)
  },

  commitSteps() {
    const machine = (context: SmolCommit) => containerName(context.bottle.slug)
    return [
      {
        title: 'Read how the VM runs (machine ls, and who exec runs as)',
        run: async (context: SmolCommit, report) => {
          const name = machine(context)
          const [machines, where] = await Promise.all([smolvm.listMachines(), smolvm.execOrThrow(name, ['sh', '-c', 'id -u; pwd'])])
          const [uid, workdir] = where.trim().split('\n')
          // exec runs as the image's USER (smolvm 1.9): tar of / and the boot's fixes need root.
          if (uid !== '0') throw new OperationError(`smolvm runs exec in ${name} as uid ${uid} (its image's USER), and a commit reads all of / as root: boot it with bottle-tasks (resume), whose packs run exec as root`)
          context.run = runOfMachine(machines.find((entry) => entry.name === name), workdir, report)
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
          const { bottle, workDir, run } = context
          const smolRun = run as SmolRun
          const labels = { ...bottleLabels(bottle), [LABELS.committedAt]: new Date().toISOString(), [LABELS.runConfig]: JSON.stringify(runConfigOf(smolRun)) }
          // No USER: exec runs as root in the pack; the agent's user is in the run configuration.
          const workdir = smolRun.workdir && smolRun.workdir !== '/' ? { WorkingDir: smolRun.workdir } : {}
          await writeFile(join(workDir!, 'Dockerfile'), scratchDockerfile('rootfs.tar.gz', { ...workdir, Labels: labels }))
          // The image only carries the archive to the pack (the snapshot): it goes when the commit
          // ends, however it ends, or every commit would leave the one before in the engine. One a
          // killed commit (kill -9) left under this name goes first: the build would only untag it.
          registerCleanup(() => docker.untagImage(committedTag(bottle.slug)))
          await docker.untagImage(committedTag(bottle.slug))
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
          await writeFile(runFileOf(context.snapshotRef), `${JSON.stringify(runConfigOf(context.run!), null, 2)}\n`)
        },
      },
    ]
  },

  snapshotExists: async (snapshotRef) => snapshotRef.endsWith('.smolmachine') && existsSync(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, docker.buildImage),

  async runOfSnapshot(snapshotRef) {
    const text = await readFile(runFileOf(snapshotRef), 'utf8').catch(() => undefined)
    return text === undefined ? undefined : parseRunConfig(text, runFileOf(snapshotRef)).run
  },

  async boot(bottle: Bottle, source: string, { run, rebuilt, relax, report, held }: BootOptions) {
    const fromImage = source.endsWith('.smolmachine') ? undefined : await cachedPack(source, report)
    const plan: Relaxing = { relax, relaxed: [], report }
    let smolRun: SmolRun
    refuseOtherBackend(run, 'smolmachines')
    if (run?.backend === 'smolmachines') {
      checkPlatform(plan, run, SMOLVM_PLATFORM)
      smolRun = reproducible(run, plan)
      // A rebuild runs as its image's user; a snapshot as its recorded one.
      if (fromImage) smolRun = { ...smolRun, ...(fromImage.user ? { user: fromImage.user } : {}) }
    } else {
      bootWithoutRecord(plan, { rebuilt, composeProject: bottle.metadata.compose_project })
      smolRun = defaultRun(fromImage?.user)
    }
    // Names go into a script the shell sources: a record (from elsewhere, say) with any other is refused.
    const odd = smolRun.envNames.filter((name) => !SHELL_NAME.test(name))
    if (odd.length > 0) throw new OperationError(`the record names environment variables no shell can set (${odd.map((name) => JSON.stringify(name)).join(', ')}): refused to boot it`)
    await bootPack(bottle, fromImage?.artifact ?? source, smolRun, resupply(allowedEnv(smolRun.envNames, held), report))
    return plan.relaxed
  },

  async restart(slug) {
    await smolvm.startMachine(containerName(slug))
    await waitUntilExecAnswers(containerName(slug))
  },

  async initTempDirs(slug) {
    await smolvm.execOrThrow(containerName(slug), ['sh', '-c', BOOT_INIT])
  },

  async remove(slug) {
    await smolvm.deleteMachine(containerName(slug))
  },

  shellCommand: (slug) => smolvm.shellArgv(containerName(slug), ['sh', '-c', SHELL_AS_AGENT]),

  async keepSnapshot(slug, latestRef, n) {
    // A hard link: the next commit renames a new pack over the latest one, this one stays.
    const dir = join(stateDir(slug), 'snapshots')
    await mkdir(dir, { recursive: true })
    const ref = join(dir, `${n}.smolmachine`)
    await Promise.all([rm(ref, { force: true }), rm(runFileOf(ref), { force: true })])
    await link(latestRef, ref)
    if (existsSync(runFileOf(latestRef))) await copyFile(runFileOf(latestRef), runFileOf(ref))
    // Each snapshot is a whole pack of its own.
    const { size } = await stat(ref)
    return { ref, sizeBytes: size, ownBytes: size }
  },

  removeSnapshots: async (refs) => void (await Promise.all(refs.flatMap((ref) => [rm(ref, { force: true }), rm(runFileOf(ref), { force: true })]))),

  async copySnapshot(ref, slug, stagedDir) {
    const copy = join(stagedDir, `${COMMITTED_PACK}.smolmachine`)
    await copyFile(ref, copy)
    if (existsSync(runFileOf(ref))) await copyFile(runFileOf(ref), runFileOf(copy))
    return join(stateDir(slug), `${COMMITTED_PACK}.smolmachine`)
  },

  layersOf: wholeSnapshots.layersOf,
  partialLoadProblem: wholeSnapshots.partialLoadProblem,

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut }) {
    wholeSnapshots.refuseLeaveOut(leaveOut)
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
    const pack = join(stagedDir, `${COMMITTED_PACK}.smolmachine`)
    await rename(loaded, pack)
    // The run configuration that travelled goes beside the pack, as commit puts it there: the
    // numbered snapshot of this import (and a resume --snapshot or fork of it) boots as it ran.
    await copyFile(join(stagedDir, FILES.runConfig), runFileOf(pack)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
    return join(stateDir(slug), `${COMMITTED_PACK}.smolmachine`)
  },

  async pushSnapshot() {
    throw new UsageError('--to is supported for docker bottles only; export smolmachines bottles with --output')
  },

  async pullSnapshot() {
    throw new UsageError('importing from a registry is supported for docker bottles only')
  },

  discardSnapshot: (reference) => rm(reference, { force: true }),

  // Host directories are the host's: a fork mounts the same ones.
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
