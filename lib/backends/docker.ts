import { createHash } from 'node:crypto'
// The docker backend: a bottle is the container bot-bottle-<slug> on the current engine (for a
// bottle bot-bottle made, the agent container of the compose project bot-bottle-<slug>).
import { PassThrough } from 'node:stream'
import { settings } from '../config.ts'
import { compressing, decompressing } from '../compression.ts'
import * as docker from '../docker.ts'
import { OperationError, ToolError } from '../errors.ts'
import { configDifferences, labelChange, type ImageConfig } from '../image-config.ts'
import { excludedPaths, excluder, FIND_FORMAT, parseFind, type Delta, type FileList } from '../file-list.ts'
import { withoutLayers } from '../layers.ts'
import { COMPOSE_LABELS, CONTAINER_PREFIX, LABELS, bottleLabels, committedTag, containerLabels, containerName, numberedTag, SHELL } from '../names.ts'
import { withoutImageNames } from '../payload-names.ts'
import { runPipeline, runPipelineThrough } from '../pipeline.ts'
import { bootWithoutRecord, checkPlatform, parseRunConfig, refuseOtherBackend, runConfigOf, type BackendRun, type DockerRun, type Relaxing } from '../run-config.ts'
import { recordedSecretNames, resupply, secretNames } from '../secrets.ts'
import { readRunConfig } from '../state.ts'
import { makeWorkDir } from '../workdir.ts'
import { allowedEnv } from '../origin.ts'
import { rebuildSource } from './rebuild.ts'
import { composeBoot, composeDown, composeFileServices, keepComposeFile, sidecarsOf } from './compose.ts'
import { buildCompact, deltaOver, exactPrior, findPrior, imageAsPrior, rewriteOf, type Prior, type Running } from './docker-compact.ts'
import { createAndStart, ensureNetworks, checkVolumes, initTempDirs, keepMade, type BootPlan } from './docker-boot.ts'
import { containerInspectSchema, networkInspectSchema } from './docker-inspect.ts'
import { dockerPlatform, recordDockerRun, userNetworks } from './docker-run.ts'
import { forkDockerRun, loadVolume, saveVolume, volumeInUse, volumesOf } from './docker-volumes.ts'
import { ownBottles, toStatus } from './shared.ts'
import type { Bottle, BottleBackend, CommitContext } from './types.ts'

interface DockerCommit extends CommitContext {
  /** A compose bottle's compose file: it travels in a label too. */
  composeFile?: string
  /** Set when the snapshot is built on the last one (docker-compact.ts). */
  compact?: { prior: Prior; delta: Delta }
  /** What a snapshot built on the image takes from the container's config, as docker commit would. */
  configChanges?: string[]
  /** A whole commit's listing of the files, run beside docker commit (never failing it). */
  listWhileCommitting?: () => Promise<void>
}

export const dockerBackend: BottleBackend = {
  name: 'docker',

  async listActive() {
    return ownBottles(await docker.listContainers(CONTAINER_PREFIX))
  },

  async status(slug) {
    return toStatus(await docker.containerState(containerName(slug)))
  },

  async changedSince(slug, newest) {
    const name = containerName(slug)
    // With the newest snapshot's file list: what a commit now would add or delete (exclusions aside).
    const listed = await changedByList(slug, name, newest.n)
    if (listed !== undefined) return { changed: listed }
    const [origin, image, changes] = await Promise.all([docker.containerOrigin(name), docker.inspectImageIfPresent(newest.ref), docker.containerChanges(name)])
    // What differs from the image now, as a digest: watch records it with the snapshot it takes.
    // (Not every commit asks: on 20.10 the engine locks the container 60-90 ms to answer.)
    const changeSet = digestOf(changes)
    // Booted from another snapshot after the newest was captured (resume --snapshot N): it holds what the newest does not.
    if (origin && image && origin.image !== image.id && origin.created > newest.since) return { changed: true, changeSet }
    // Without the paths of then, a file added and deleted again since leaves no trace to compare.
    if (newest.changeSet === undefined) return { changed: undefined, changeSet }
    // Paths that differ from the image now and did not then, or the reverse: a change, whatever the times say.
    if (changeSet !== newest.changeSet) return { changed: true, changeSet }
    const present = changes.filter((change) => change.kind !== 'deleted').map((change) => change.path)
    if (present.length === 0) return { changed: false, changeSet }
    // The same paths: any of them written, chmod-ed or (a directory) with an entry added or removed since?
    return { changed: await docker.changedAfter(name, present, newest.since), changeSet }
  },

  async currentFiles(slug) {
    const { files, prior } = await filesNow(slug, containerName(slug))
    if (!files) throw new OperationError(`bottle "${slug}" cannot list its files: diff needs GNU find (with -printf) and sh in it`)
    if (!prior) throw new OperationError(`bottle "${slug}" runs from no snapshot with a file list (one committed before bottle-tasks kept them, or imported): commit it, then diff from there`)
    return deltaOver(prior, files).files
  },

  async start(bottle, image) {
    // A terminal and open stdin keep an image whose command is a shell alive, detached.
    await docker.runDetached(['--interactive', '--tty', '--name', containerName(bottle.slug), ...labelFlags(containerLabels(bottle))], image)
  },

  commitSteps() {
    return [
      {
        title: 'Flush pending writes and read how the bottle runs (sync, inspect)',
        // Without the sync a commit can miss files the agent has just written.
        run: async (context: DockerCommit) => {
          const { bottle } = context
          const name = containerName(bottle.slug)
          // The inspections run while the sync does (they read settings, not files), and so does the
          // look-up of what the snapshot may build on (it needs only the container).
          const reading = readRun(name, bottle)
          const [capture, run, prior] = await Promise.all([syncAndClock(name), reading, reading.then((read) => findPrior(bottle.slug, read.running))])
          context.secretNames = run.secretNames
          context.layers = run.layers
          context.builtOn = run.builtOn
          context.run = run.record
          context.run.tempDirsReady = capture.tempModes === '1777\n1777'
          if (context.run.compose) context.composeFile = await keepComposeFile(bottle.slug, context.run.compose)
          if (capture.clock !== undefined) await planCommit(context, name, capture.clock, prior, run)
        },
      },
      {
        title: 'Commit the running bottle (docker commit)',
        enabled: (context: DockerCommit) => !context.compact,
        run: async (context: DockerCommit) => {
          const { bottle } = context
          const tag = committedTag(bottle.slug)
          const secrets = context.secretNames ?? []
          // Credentials keep their names (blank values) so resume knows to supply them again.
          const changes = [...secrets.map((secret) => `ENV ${secret}=`), ...Object.entries(snapshotLabels(context)).map(([key, value]) => labelChange(key, value))]
          // The files are listed while docker commit reads them (the clock was read before either).
          await Promise.all([docker.commitContainer(containerName(bottle.slug), tag, changes), context.listWhileCommitting?.()])
          context.snapshotRef = tag
        },
      },
      {
        title: 'Commit what changed since the last snapshot, on top of it (tar, docker build)',
        enabled: (context: DockerCommit) => Boolean(context.compact),
        run: async (context: DockerCommit) => {
          const { bottle, compact } = context
          const tag = committedTag(bottle.slug)
          const secrets = context.secretNames ?? []
          const labels = Object.entries(snapshotLabels(context)).map(([key, value]) => labelChange(key, value).slice('LABEL '.length))
          const instructions = [...(context.configChanges ?? []), ...secrets.map((secret) => `ENV ${secret}=`), `LABEL ${labels.join(' ')}`]
          const work = await makeWorkDir('commit')
          try {
            await buildCompact(containerName(bottle.slug), tag, compact!.prior, compact!.delta, instructions, work)
          } finally {
            await work.remove()
          }
          context.snapshotRef = tag
        },
      },
      {
        title: "Keep the credentials' values out of the snapshot's legacy config",
        // A compact snapshot is built FROM one whose config holds none.
        enabled: (context: DockerCommit) => !context.compact && (context.secretNames ?? []).length > 0,
        run: async (context: DockerCommit) => {
          await docker.rebuildWithoutContainerConfig(context.snapshotRef!, context.snapshotRef!)
        },
      },
      {
        // Each commit of a resumed snapshot adds a layer; engines refuse images deeper than 125.
        title: 'Flatten the snapshot into one layer (it is getting deep)',
        enabled: (context: DockerCommit) => (context.layers ?? 0) >= settings().flattenLayers,
        run: async (context: DockerCommit) => {
          await docker.flattenImage(context.snapshotRef!, (commands) => runPipeline(commands))
        },
      },
    ]
  },

  snapshotExists: (snapshotRef) => docker.imageExists(snapshotRef),

  rebuild: (bottle) => rebuildSource(bottle, docker.buildImage),

  runOfSnapshot: async (snapshotRef) => runOfImage(await docker.inspectImageIfPresent(snapshotRef), snapshotRef),

  async boot(bottle, source, { run, rebuilt, relax, report, held }) {
    refuseOtherBackend(run, 'docker')
    // A rebuild source may not be pulled yet: `docker create` pulls it, and it carries nothing of ours.
    const image = await docker.inspectImageIfPresent(source)
    const names = run ? run.secretEnv : (image?.labels[LABELS.secretEnv] ?? '').split(',').filter(Boolean)
    const present = resupply(allowedEnv(names, held), report)
    if (!run) {
      const relaxing: Relaxing = { relax, relaxed: [], report }
      bootWithoutRecord(relaxing, { rebuilt, composeProject: bottle.metadata.compose_project })
      const name = containerName(bottle.slug)
      await docker.createContainer(['--interactive', '--tty', '--name', name, ...labelFlags(containerLabels(bottle)), ...present.flatMap((variable) => ['--env', variable])], source)
      await initTempDirs(name)
      await docker.startContainer(name)
      return relaxing.relaxed
    }
    const plan: BootPlan = {
      name: containerName(bottle.slug),
      image: source,
      labels: containerLabels(bottle),
      run,
      envFromHost: present,
      imageConfig: { entrypoint: image?.config.Entrypoint ?? null, cmd: image?.config.Cmd ?? null },
      relax,
      relaxed: [],
      report,
      made: [],
      ...(held ? { held } : {}),
      imageTempDirsReady: ((ran) => ran?.backend === 'docker' && ran.tempDirsReady === true)(runOfImage(image, source)),
    }
    // What the engine adds first: refused before anything is made.
    checkPlatform(plan, run, dockerPlatform(await docker.engineInfo()))
    await checkVolumes(run, plan)
    if (run.compose) {
      await composeBoot(bottle.slug, run.compose, plan)
    } else {
      const pinned = new Set(run.networks.filter((attachment) => attachment.ipv4Address || attachment.ipv6Address).map((attachment) => attachment.network))
      await ensureNetworks(run.networkDefinitions, pinned, plan)
      await createAndStart(plan)
    }
    keepMade(plan)
    return plan.relaxed
  },

  async restart(slug) {
    const name = containerName(slug)
    const container = containerInspectSchema.parse(await docker.inspectContainer(name))
    const project = container.Config.Labels?.[COMPOSE_LABELS.project]
    await initTempDirs(name, { readOnlyRootfs: container.HostConfig.ReadonlyRootfs ?? false })
    // A stopped compose bottle starts with its sidecars (after a reboot they are all stopped).
    if (project) await docker.compose(['-p', project, 'start'])
    else await docker.startContainer(name)
  },

  // Boot and restart re-initialise /tmp and /var/tmp before the container starts.
  async initTempDirs() {},

  async remove(slug) {
    // A compose bottle goes as a whole project (sidecars too), even when its agent container is gone.
    // One read of the container gives both its project and the image it runs from.
    const [ran] = (await docker.inspectMany('container', [containerName(slug)])).found as Array<{ Image?: string; Config?: { Labels?: Record<string, string> | null } } | undefined>
    const project = ran?.Config?.Labels?.[COMPOSE_LABELS.project] || containerName(slug)
    const members = await docker.listLabelled('container', `${COMPOSE_LABELS.project}=${project}`, [COMPOSE_LABELS.service])
    // Only the bottle's own project goes down whole: named after it, with no container of a service
    // its compose file does not have (another project that took the name, or joined it).
    if (members.length > 0 && project === containerName(slug)) {
      const services = await composeFileServices(slug)
      if (!services || members.every((row) => services.has(row.labels[COMPOSE_LABELS.service] ?? ''))) await composeDown(project)
    }
    await docker.removeContainerQuietly(containerName(slug))
    // A snapshot pruned while the bottle ran from it lost its names but stayed for the container:
    // with the container gone it is nobody's, and would stay in the engine nameless for good.
    if (ran?.Image) await discardNameless(ran.Image, { ours: true })
  },

  shellCommand: (slug) => docker.shellArgv(containerName(slug), SHELL),

  async keepSnapshot(slug, latestRef, n, bases = []) {
    const ref = numberedTag(slug, n)
    const [, image, found] = await Promise.all([docker.tagImage(latestRef, ref), docker.inspectImage(latestRef), docker.inspectImages(bases)])
    return { ref, id: image.id, sizeBytes: image.sizeBytes, ownBytes: ownBytesOf(image, found) }
  },

  removeSnapshots: (refs) => docker.removeTags(refs),

  async copySnapshot(ref, slug) {
    const tag = committedTag(slug)
    await docker.tagImage(ref, tag)
    return tag
  },

  forkRun: (run, from, to, stagedDir, snapshotRef) => forkDockerRun(run as DockerRun, from.slug, to, stagedDir, snapshotRef),

  async layersOf(reference) {
    return (await docker.inspectImageIfPresent(reference))?.layers
  },

  async partialLoadProblem(archive) {
    // The containerd image store imports a legacy archive only with every layer file in it.
    if (archive === 'oci-layout' || !(await docker.engineInfo()).containerdStore) return undefined
    return 'it was exported with --base from an engine before 25 (a legacy archive), and this engine (containerd image store) loads such an archive only whole: export it again without --base'
  },

  async saveSnapshot(snapshotRef, sink, { compression, leaveOut, tempDir, onBytes, onSize }) {
    // Saved by id, so the archive carries no tag: import names it for the slug it lands as.
    const { id, savedBytes } = await docker.inspectImage(snapshotRef)
    onSize?.(savedBytes)
    const compress = compressing(compression)
    const result = { droppedLayers: 0 }
    if (leaveOut.length === 0) {
      await runPipeline([docker.saveArgv(id), ...compress.commands], { transforms: compress.transforms, output: sink, ...(onBytes ? { countFirst: onBytes } : {}) })
      return result
    }
    // docker save → leave out the base layers (in Node) → compress → sink.
    const saved = new PassThrough({ highWaterMark: 1 << 20 })
    const filtered = withoutLayers(saved, new Set(leaveOut), tempDir, result)
    const [save, write] = await Promise.allSettled([
      runPipeline([docker.saveArgv(id)], { output: saved, ...(onBytes ? { countFirst: onBytes } : {}) }),
      runPipeline(compress.commands, { input: filtered, transforms: compress.transforms, output: sink }).catch((error: unknown) => {
        saved.destroy() // so docker save stops instead of waiting for a reader
        throw error
      }),
    ])
    // docker's own failure explains more than the truncated stream it causes downstream.
    if (save.status === 'rejected' && save.reason instanceof ToolError) throw save.reason
    if (write.status === 'rejected') throw write.reason
    if (save.status === 'rejected') throw save.reason
    return result
  },

  async loadSnapshot(payload, compression) {
    const decompress = decompressing(compression)
    // The payload's own image names are never applied (one naming debian:bookworm-slim would repoint
    // that name here): docker load gets a copy naming nothing, and sees its input end only when that
    // copy is whole.
    const output = await runPipelineThrough(decompress.commands, [...decompress.transforms, withoutImageNames()], [docker.loadArgv()], payload)
    const loaded = docker.parseLoaded(output)
    if (!loaded) throw new OperationError(`docker load did not say what it loaded: ${output.trim()}`)
    return loaded
  },

  async adoptSnapshot(loaded, slug) {
    const tag = committedTag(slug)
    await docker.tagImage(loaded, tag)
    // A pulled snapshot keeps only our name; an image id (a loaded bundle) is not a name to drop.
    if (!loaded.startsWith('sha256:') && loaded !== tag) await docker.untagImage(loaded)
    return tag
  },

  async pushSnapshot(snapshotRef, registryRef) {
    return { digest: await docker.pushAs(snapshotRef, registryRef) }
  },

  async pullSnapshot(registryRef) {
    await docker.pullImage(registryRef)
    return { loaded: registryRef, labels: (await docker.inspectImage(registryRef)).labels }
  },

  async discardSnapshot(reference) {
    // A pulled snapshot is a name to drop. A loaded one is an image id (the payload was saved by id,
    // so the load names nothing): removed only while it has no name, for an image with one was here
    // before (a bottle's snapshot) or has been named since by another import; `image rm` without
    // --force leaves it to a container or a child image that uses it. Asked now rather than by
    // listing every image before the load: on the containerd image store that listing grows with
    // the images (1.8 s at 450 measured here).
    if (!reference.startsWith('sha256:')) return docker.untagImage(reference)
    await discardNameless(reference, { ours: false })
  },

  volumesOf: (run) => volumesOf(run as DockerRun),
  saveVolume,
  volumeInUse,
  loadVolume,
}

/**
 * `sync` in the bottle right before the commit (or it can miss files just written), and in the same
 * exec the modes of /tmp and /var/tmp (a snapshot that has them right needs no re-initialisation
 * on boot) and the bottle's clock (a change after it may be missing from the snapshot).
 */
async function syncAndClock(container: string): Promise<{ tempModes: string; clock?: number }> {
  let output: string
  try {
    output = await docker.readInContainer(container, ['sh', '-c', 'sync; stat -c %a /tmp /var/tmp 2>/dev/null; echo; date +%s.%N'])
  } catch {
    // No shell in the image: sync alone.
    await docker.execAsRoot(container, ['sync'])
    return { tempModes: '' }
  }
  const [modes = '', clockText = ''] = output.split('\n\n')
  const clock = Number(clockText.trim())
  return Number.isFinite(clock) && clockText.trim() !== '' ? { tempModes: modes.trim(), clock } : { tempModes: modes.trim() }
}

/** The running bottle's files, and the snapshot its list builds on (looked up while find runs). */
async function filesNow(slug: string, name: string): Promise<{ files: FileList | undefined; prior: Prior | undefined }> {
  const container = docker.inspectContainer(name).then((raw) => containerInspectSchema.parse(raw))
  const [files, prior] = await Promise.all([listFiles(name), container.then((found) => findPrior(slug, { id: found.Id, image: found.Image, created: found.Created }))])
  return { files, prior }
}

/** The bottle's files (GNU find in it); undefined where it has no such find (busybox) or no shell. */
async function listFiles(container: string): Promise<FileList | undefined> {
  const output = await docker.readInContainer(container, ['sh', '-c', `find / -xdev -printf '${FIND_FORMAT}' 2>/dev/null; true`]).catch(() => '')
  return parseFind(output)
}

/**
 * Compact or whole. A commit builds on the bottle's last snapshot (FROM it, only what changed) when
 * paths are to be kept out, or when that snapshot was taken from this same container and what a
 * `docker commit` would have written then (everything changed since the container was made) came
 * to BOTTLE_TASKS_COMPACT_MIB or more; it lists the files first. Otherwise it is a docker commit
 * (after a resume, that holds only what changed since), which lists the files while it runs.
 * Either way the snapshot's own list is kept for the next.
 */
async function planCommit(
  context: DockerCommit,
  name: string,
  clock: number,
  found: Prior | undefined,
  { running, image, containerConfig }: { running: Running; image: docker.ImageSummary; containerConfig: ImageConfig },
): Promise<void> {
  const excluding = (context.exclude ?? []).length > 0
  const excluded = excluder(context.exclude ?? [])
  const record = (files: FileList, exact: boolean, rewrite: number) => ({ files, container: running.id, clock: String(clock), exact, rewrite })
  const compact = excluding || (found?.sameContainer === true && (found.record.rewrite ?? 0) >= settings().compactMiB * 2 ** 20)
  if (!compact) {
    // A docker commit's list is taken while it reads the files: not exact (see FileRecord).
    context.listWhileCommitting = async () => {
      const now = await listFiles(name)
      if (now) context.files = record(found ? deltaOver(found, now).files : now, false, rewriteOf(now, running))
    }
    return
  }
  const now = await listFiles(name)
  if (!now) throw new OperationError(`cannot keep ${context.exclude!.join(', ')} out of the snapshot: the bottle has no GNU find (with -printf) to list its files`)
  let prior = found
  if (!prior) {
    // Kept out of the first snapshot too: built on the image, with what docker commit takes from the container.
    prior = await imageAsPrior(image, running)
    context.configChanges = configDifferences(containerConfig, image.config, context.secretNames ?? [])
  }
  prior = await exactPrior(context.bottle.slug, prior)
  const delta = deltaOver(prior, now, excluded)
  context.excludedBytes = [...now].reduce((sum, [path, entry]) => sum + (entry.type === 'f' && excluded(path) ? entry.size : 0), 0)
  context.compact = { prior, delta }
  context.layers = prior.layers + 1
  context.builtOn = prior.image
  context.files = record(delta.files, true, rewriteOf(now, running))
}

/**
 * Whether a commit now would add or delete anything over snapshot `n` (by its file list: the
 * paths the exclusions keep out do not count); undefined when the bottle does not build on it or
 * either side has no list.
 */
async function changedByList(slug: string, name: string, n: number): Promise<boolean | undefined> {
  const [{ files, prior }, exclude] = await Promise.all([filesNow(slug, name), excludedPaths(slug)])
  if (!files || prior?.n !== n) return undefined
  const delta = deltaOver(prior, files, excluder(exclude))
  // A directory whose ctime moved with its mode and owner unchanged only had entries come or go:
  // they count as themselves (an excluded cache does not).
  const before = prior.record.files
  const changed = (path: string) => {
    const [now, then] = [delta.files.get(path)!, before.get(path)]
    return now.type !== 'd' || !then || then.type !== 'd' || then.mode !== now.mode || then.uid !== now.uid || then.gid !== now.gid
  }
  return delta.remove.length > 0 || delta.include.some(changed)
}

/** The labels every snapshot carries: its bottle, when, the run configuration, the compose file. */
function snapshotLabels(context: DockerCommit): Record<string, string> {
  return {
    ...bottleLabels(context.bottle),
    [LABELS.committedAt]: new Date().toISOString(),
    [LABELS.secretEnv]: (context.secretNames ?? []).join(','),
    [LABELS.runConfig]: JSON.stringify(runConfigOf(context.run!)),
    ...(context.composeFile ? { [LABELS.composeFile]: context.composeFile } : {}),
    // docker commit copies the container's labels; which state root it ran under is per host.
    [LABELS.stateRoot]: '',
  }
}

/** How the bottle runs: its container, image, networks, sidecars and the containers it shares namespaces with. */
async function readRun(
  name: string,
  bottle: Bottle,
): Promise<{ record: DockerRun; secretNames: string[]; layers: number; builtOn: string; running: Running; image: docker.ImageSummary; containerConfig: ImageConfig }> {
  const container = containerInspectSchema.parse(await docker.inspectContainer(name))
  const project = container.Config.Labels?.[COMPOSE_LABELS.project]
  const shared = [container.HostConfig.NetworkMode, container.HostConfig.PidMode, container.HostConfig.IpcMode].filter((mode) => mode?.startsWith('container:'))
  const [image, networks, sidecars, sharedWith, engine, recorded] = await Promise.all([
    docker.inspectImage(container.Image),
    docker.inspectMany('network', userNetworks(container)),
    project ? sidecarsOf(project, container.Config.Labels?.[COMPOSE_LABELS.service] ?? '') : Promise.resolve([]),
    docker.inspectMany('container', shared.map((mode) => mode!.slice('container:'.length))),
    docker.engineInfo(),
    readRunConfig(bottle.slug),
  ])
  // A re-commit keeps secret what the last record (and the snapshot it runs from) called secret.
  const names = secretNames(container.Config.Env ?? [], bottle.metadata, recordedSecretNames(recorded?.run, image.labels[LABELS.secretEnv]))
  const record = recordDockerRun(container, {
    imageLabels: image.labels,
    secretNames: names,
    networks: networks.found.map((network) => networkInspectSchema.parse(network)),
    containerNames: new Map(sharedWith.found.map((raw) => containerInspectSchema.parse(raw)).map((other) => [other.Id, other.Name.replace(/^\//, '')])),
    composeSidecars: sidecars,
  })
  return {
    record: { ...record, platform: dockerPlatform(engine) },
    secretNames: names,
    layers: image.layers.length + 1,
    builtOn: image.id,
    running: { id: container.Id, image: image.id, created: container.Created },
    image,
    containerConfig: container.Config,
  }
}

/** The run configuration an image carries in its label (a snapshot we made), if any. */
function runOfImage(image: docker.ImageSummary | undefined, reference: string): BackendRun | undefined {
  const label = image?.labels[LABELS.runConfig]
  return label ? parseRunConfig(label, `label ${LABELS.runConfig} of ${reference}`).run : undefined
}

/**
 * Remove `image` while it has no name (and, with `ours`, is a bottle's snapshot: it carries the slug
 * it was committed under); `image rm` without --force, so one a container or child image uses stays.
 */
async function discardNameless(image: string, { ours }: { ours: boolean }): Promise<void> {
  const summary = await docker.inspectImageIfPresent(image)
  if (summary && summary.tags.length === 0 && (!ours || summary.labels[LABELS.slug])) await docker.untagImage(image)
}

const labelFlags = (labels: Record<string, string>) => Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])

/** The paths that differ from the image and how, as one digest (order-free). */
function digestOf(changes: docker.ContainerChange[]): string {
  const lines = changes.map((change) => `${change.kind} ${change.path}`).sort()
  return createHash('sha256').update(lines.join('\n')).digest('hex')
}

/**
 * What an image adds beyond the one of `bases` whose layers begin it the longest way (a snapshot
 * committed from a container adds its one layer to the container's image): its size less that
 * one's. Nothing shared: all of it.
 */
function ownBytesOf(image: docker.ImageSummary, bases: docker.ImageSummary[]): number {
  const begins = (base: docker.ImageSummary) => base.layers.length <= image.layers.length && base.layers.every((layer, i) => layer === image.layers[i])
  const under = bases.filter(begins).sort((a, b) => b.layers.length - a.layers.length)[0]
  return under ? Math.max(0, image.sizeBytes - under.sizeBytes) : image.sizeBytes
}
