// Thin wrappers around the docker CLI: one command each, parsed results.
import { configChanges, type ImageConfig } from './image-config.ts'
import { $, asToolError, sh, shNothrow, ToolError } from './shell.ts'

export { labelChange } from './image-config.ts'

export const LABELS = {
  slug: 'bot-bottle.slug',
  backend: 'bot-bottle.backend',
  metadata: 'bot-bottle.metadata',
  committedAt: 'bot-bottle.committed-at',
  /** Names of the credentials left out of a snapshot, for resume to supply again. */
  secretEnv: 'bot-bottle.secret-env',
  /** The state root a container belongs to: cleanup and list of another root leave it alone. */
  stateRoot: 'bot-bottle.state-root',
} as const

export interface ContainerSummary {
  name: string
  state: string
  /** The bot-bottle.state-root label; undefined for containers we did not start (bot-bottle's). */
  stateRoot?: string
}

const ABSENT = /No such (object|container|image)|not found/i

/** The container's state (`running`, `exited`, …), or undefined when there is no such container. */
export async function containerState(name: string): Promise<string | undefined> {
  const result = await shNothrow`docker container inspect --format ${'{{.State.Status}}'} ${name}`
  if (result.exitCode === 0) return result.stdout.trim()
  if (ABSENT.test(result.stderr)) return undefined
  throw new ToolError(`docker container inspect ${name}`, result.exitCode, result.stderr)
}

/** Containers whose name starts with `prefix`, running or not. */
export async function listContainers(prefix: string): Promise<ContainerSummary[]> {
  const format = `{{.Names}}\t{{.State}}\t{{.Label "${LABELS.stateRoot}"}}`
  const output = await sh`docker ps -a --no-trunc --filter ${`name=^${prefix}`} --format ${format}`
  return output.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .map(([name = '', state = '', stateRoot = '']) => ({ name, state, stateRoot: stateRoot || undefined }))
    .filter((row) => row.name.startsWith(prefix))
}

/** Only "no such image" means absent; any other failure (engine down, …) is rethrown. */
export async function imageExists(reference: string): Promise<boolean> {
  const result = await shNothrow`docker image inspect --format ${'{{.Id}}'} ${reference}`
  if (result.exitCode === 0) return true
  if (ABSENT.test(result.stderr)) return false
  throw new ToolError(`docker image inspect ${reference}`, result.exitCode, result.stderr)
}

export interface ImageSummary {
  id: string
  sizeBytes: number
  /** Diff ids, bottom first. */
  layers: string[]
  labels: Record<string, string>
}

/** An image's labels, or none when the engine does not have it (yet: `docker run` may pull it). */
export async function labelsIfPresent(reference: string): Promise<Record<string, string>> {
  const result = await shNothrow`docker image inspect --format ${'{{json .Config.Labels}}'} ${reference}`
  if (result.exitCode === 0) return JSON.parse(result.stdout) ?? {}
  if (ABSENT.test(result.stderr)) return {}
  throw new ToolError(`docker image inspect ${reference}`, result.exitCode, result.stderr)
}

export async function inspectImage(reference: string): Promise<ImageSummary> {
  const output = await sh`docker image inspect --format ${'{{json .}}'} ${reference}`
  const image = JSON.parse(output.stdout) as {
    Id: string
    Size: number
    RootFS?: { Layers?: string[] }
    Config?: { Labels?: Record<string, string> | null }
  }
  return {
    id: image.Id,
    sizeBytes: image.Size,
    layers: image.RootFS?.Layers ?? [],
    labels: image.Config?.Labels ?? {},
  }
}

export async function containerEnv(container: string): Promise<string[]> {
  return JSON.parse((await sh`docker container inspect --format ${'{{json .Config.Env}}'} ${container}`).stdout) ?? []
}

/**
 * Re-tag `reference` as a child image with no other change: engines before 25 keep the committing
 * container's whole config (env values included) in a legacy field of a committed image; the child
 * carries only its own, built from the parent's cleaned config.
 */
export async function rebuildWithoutContainerConfig(reference: string, tag: string): Promise<void> {
  const { id } = await inspectImage(reference)
  const building = $({ input: `FROM ${id}\nLABEL bot-bottle.scrubbed=true\n` })`docker build --quiet --tag ${tag} -`
  try {
    await building
  } catch (error) {
    throw asToolError(building, error)
  }
}

/** How many layers the image under a container has. */
export async function containerImageLayers(container: string): Promise<number> {
  const image = (await sh`docker container inspect --format ${'{{.Image}}'} ${container}`).stdout.trim()
  return (await inspectImage(image)).layers.length
}

/** `docker commit` of a running container; the container keeps running (no pause: agents keep working). */
export async function commitContainer(container: string, tag: string, changes: string[]): Promise<string> {
  const changeFlags = changes.flatMap((change) => ['--change', change])
  const output = await sh`docker commit --pause=false ${changeFlags} ${container} ${tag}`
  return output.stdout.trim()
}

export async function buildImage(tag: string, dockerfile: string, context: string): Promise<void> {
  await sh`docker build --quiet --tag ${tag} --file ${dockerfile} ${context}`
}

export interface RunOptions {
  name: string
  image: string
  labels: Record<string, string>
  /** Variables passed by name: docker takes their values from this process's environment. */
  envFromHost?: string[]
}

/** Start a bottle detached, with a terminal and open stdin so an interactive shell keeps it alive. */
export async function runDetached({ name, image, labels, envFromHost = [] }: RunOptions): Promise<string> {
  const labelFlags = Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])
  const envFlags = envFromHost.flatMap((variable) => ['--env', variable])
  const output = await sh`docker run --detach --interactive --tty --name ${name} ${labelFlags} ${envFlags} ${image}`
  return output.stdout.trim()
}

export async function startContainer(name: string): Promise<void> {
  await sh`docker start ${name}`
}

export async function execAsRoot(container: string, command: string[]): Promise<string> {
  const output = await sh`docker exec --user root ${container} ${command}`
  return output.stdout
}

export async function removeContainer(name: string): Promise<void> {
  await sh`docker rm --force ${name}`
}

export async function removeImage(reference: string): Promise<void> {
  await sh`docker image rm ${reference}`
}

/** Remove a tag for good: the image goes with it unless other tags or containers still use it. */
export async function removeTag(reference: string): Promise<void> {
  await sh`docker image rm --force ${reference}`
}

export async function tagImage(source: string, target: string): Promise<void> {
  await sh`docker tag ${source} ${target}`
}

/** Remove one tag; the image stays while other tags or containers use it. */
export async function untagImage(reference: string): Promise<void> {
  await shNothrow`docker image rm ${reference}`
}

export async function pushImage(reference: string): Promise<string> {
  const output = await sh`docker push ${reference}`
  return /digest: (sha256:[0-9a-f]{64})/.exec(output.stdout)?.[1] ?? ''
}

export async function pullImage(reference: string): Promise<void> {
  await sh`docker pull --quiet ${reference}`
}

/** The diff ids of an image's layers, bottom first. */
export async function imageLayers(reference: string): Promise<string[]> {
  return (await inspectImage(reference)).layers
}

export const saveCommand = (reference: string): [string, ...string[]] => ['docker', 'save', reference]
export const loadCommand = (): [string, ...string[]] => ['docker', 'load']

/** `docker load` says what it loaded in one of two forms, depending on whether the archive had tags. */
export function parseLoaded(output: string): string | undefined {
  return /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(output)?.[1] ?? /Loaded image: (\S+)/.exec(output)?.[1]
}

export async function imageConfig(reference: string): Promise<ImageConfig> {
  const output = await sh`docker image inspect --format ${'{{json .Config}}'} ${reference}`
  return JSON.parse(output.stdout) as ImageConfig
}

/** A one-layer copy of `reference` with the same config, under the same tag. */
export async function flattenImage(reference: string, runPipe: (commands: [string, ...string[]][]) => Promise<string>): Promise<void> {
  const changes = configChanges(await imageConfig(reference)).flatMap((change) => ['--change', change])
  const source = (await sh`docker create ${reference}`).stdout.trim()
  try {
    await runPipe([['docker', 'export', source], ['docker', 'import', ...changes, '-', reference]])
  } finally {
    await shNothrow`docker rm --force ${source}`
  }
}
