// Named volumes of docker bottles: streamed out into bundles, back into volumes on import, copied
// for forks. A volume is read and written through a container that is created and never started
// (`docker cp` mounts its volumes), so no tool has to exist in any image.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { registerCleanup } from '../cleanup.ts'
import { compressing, decompressing, type Compression } from '../compression.ts'
import * as docker from '../docker.ts'
import { OperationError, UsageError } from '../errors.ts'
import { LABELS } from '../names.ts'
import { runPipeline } from '../pipeline.ts'
import { renameComposeFile, renameRun, type DockerRun } from '../run-config.ts'
import { statePath } from '../state.ts'
import { BLOCK, parseHeader } from '../tar.ts'
import type { VolumeEntry } from './types.ts'

const MOUNT = '/v'

/** A created, never started container with `volume` at /v, removed whatever happens. */
async function withVolumeContainer<T>(volume: string, via: string, use: (container: string) => Promise<T>): Promise<T> {
  const name = `bottle-tasks-volume-${randomBytes(4).toString('hex')}`
  const forget = registerCleanup(() => docker.removeContainerQuietly(name))
  try {
    // The command is never run: an image without one (FROM scratch) still needs it to be created.
    await docker.createContainer(['--name', name, '--mount', `type=volume,src=${volume},dst=${MOUNT}`, '--entrypoint', '/'], via)
    return await use(name)
  } finally {
    await docker.removeContainerQuietly(name)
    forget()
  }
}

export async function volumesOf(run: DockerRun): Promise<VolumeEntry[]> {
  const volumes = run.mounts.filter((mount) => mount.type === 'volume')
  if (volumes.length === 0) return []
  const sizes = await docker.volumeSizes()
  return volumes.map((mount) => ({ name: mount.source, target: mount.target, sizeBytes: sizes.get(mount.source) ?? -1 }))
}

/** The volume's contents as a tar (entries under `v/`), compressed, into `sink`. */
export async function saveVolume(name: string, sink: Writable, compression: Compression, via: string, onBytes?: (bytes: number, final: boolean) => void): Promise<void> {
  const compress = compressing(compression)
  const counted = onBytes ? { countFirst: onBytes } : {}
  await withVolumeContainer(name, via, (container) => runPipeline([docker.copyOutArgv(container, MOUNT), ...compress.commands], { transforms: compress.transforms, output: sink, ...counted }).then(() => {}))
}

/**
 * A volume here that import may write into: one it made for the bottle `owner` (labelled so). Any
 * other volume of that name is another bottle's or application's, and is never written, mounted or
 * removed by an import, --force or not.
 */
async function ownedVolumeExists(name: string, owner: string): Promise<boolean> {
  const { found } = await docker.inspectMany('volume', [name])
  const volume = found[0] as { Labels?: Record<string, string> | null } | undefined
  if (!volume) return false
  if (volume.Labels?.[LABELS.slug] !== owner) {
    throw new UsageError(`volume ${name} exists on this host and is not bottle ${owner}'s (no label ${LABELS.slug}=${owner}): an import never writes into, mounts or removes another's volume; import with --as NEW_SLUG, or remove that volume yourself if it is yours`)
  }
  return true
}

/** Whether the volume exists here and holds anything (the tar of an empty one has a single entry); refused when it is not `owner`'s. */
export async function volumeInUse(name: string, via: string, owner: string): Promise<boolean> {
  if (!(await ownedVolumeExists(name, owner))) return false
  return withVolumeContainer(name, via, async (container) => {
    let entries = 0
    let buffered = Buffer.alloc(0)
    let offset = 0
    const counter = new Writable({
      write(chunk: Buffer, _encoding, done) {
        buffered = Buffer.concat([buffered, chunk])
        while (entries < 2 && buffered.length >= offset + BLOCK) {
          const entry = parseHeader(buffered.subarray(offset, offset + BLOCK))
          if (!entry) break
          entries++
          offset += BLOCK + Math.ceil(entry.size / BLOCK) * BLOCK
        }
        // Two entries are enough to know: stop reading.
        done(entries >= 2 ? new Error('enough') : null)
      },
    })
    await runPipeline([docker.copyOutArgv(container, MOUNT)], { output: counter }).catch((error: unknown) => {
      if (!(error instanceof Error && error.message === 'enough')) throw error
    })
    return entries >= 2
  })
}

/** Make `name` hold what `saveVolume` wrote (created here, labelled as `owner`'s, or emptied first with `replace`). */
export async function loadVolume(name: string, payload: Readable, compression: Compression, replace: boolean, via: string, owner: string): Promise<void> {
  if ((await ownedVolumeExists(name, owner)) && replace) {
    await docker.removeVolumeQuietly(name)
    if ((await docker.inspectMany('volume', [name])).missing.length === 0) throw new OperationError(`volume ${name} is in use by a container here: remove that container first`)
  }
  await docker.createVolume(name, { [LABELS.slug]: owner })
  const decompress = decompressing(compression)
  const input = decompress.transforms.reduce<Readable>((stream, transform) => stream.pipe(transform), payload)
  // Without -a: the archive's owners are kept (-a would chown everything to the container's user).
  await withVolumeContainer(name, via, (container) => runPipeline([...decompress.commands, docker.copyInArgv(container, '/')], { input }).then(() => {}))
}

/** A copy of volume `from` as a new volume `to` of bottle `owner` (labelled so), streamed between two never-started containers. */
async function copyVolume(from: string, to: string, via: string, owner: string): Promise<void> {
  await docker.createVolume(to, { [LABELS.slug]: owner })
  await withVolumeContainer(from, via, (source) => withVolumeContainer(to, via, (target) => runPipeline([docker.copyOutArgv(source, MOUNT), docker.copyInArgv(target, '/')]).then(() => {})))
}

/**
 * The run of a fork: the same configuration, its own copies of the named volumes; a compose bottle
 * becomes its own project (names that carried the source's slug carry the fork's, in the run and in
 * the compose file written into `stagedDir`).
 */
export async function forkDockerRun(run: DockerRun, from: string, to: string, stagedDir: string, via: string): Promise<DockerRun> {
  let anonymous = 0
  const copies = new Map<string, string>()
  const forked = renameRun(run, from, to, (name) => {
    const copy = /^[0-9a-f]{64}$/.test(name) ? `bot-bottle-${to}-volume-${++anonymous}` : `${name}-${to}`
    copies.set(name, copy)
    return copy
  }) as DockerRun
  for (const [i, mount] of run.mounts.entries()) {
    if (mount.type !== 'volume') continue
    const copy = forked.mounts[i]!.source
    copies.set(mount.source, copy)
    if ((await docker.inspectMany('volume', [copy])).missing.length === 0) throw new OperationError(`volume ${copy} (the fork's copy of ${mount.source}) already exists here`)
    await copyVolume(mount.source, copy, via, to)
  }
  if (!run.compose) return forked
  const composeFile = await readFile(statePath(from, 'compose'), 'utf8').catch(() => undefined)
  if (composeFile === undefined) throw new OperationError(`${statePath(from, 'compose')} is missing: a compose bottle cannot be forked without its compose file`)
  await writeFile(join(stagedDir, 'docker-compose.yml'), renameComposeFile(composeFile, from, to, copies))
  return forked
}
