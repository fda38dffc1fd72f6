// Thin wrappers around Apple's `container` CLI (macOS): one command each, parsed results.
import * as z from 'zod/mini'
import './schema.ts'
import type { ImageConfig } from './image-config.ts'
import { ToolError } from './errors.ts'
import { sh } from './shell.ts'

export interface AppleContainer {
  id: string
  state: string
  image: string
  labels: Record<string, string>
}

// `container list --format json`: 1.x nests the state under status; 0.12 and earlier had a bare
// status string and the id under configuration.
const listEntry = z.looseObject({
  id: z.optional(z.string()),
  status: z.union([z.string(), z.looseObject({ state: z.string() })]),
  configuration: z.looseObject({
    id: z.optional(z.string()),
    image: z.optional(z.looseObject({ reference: z.string() })),
    labels: z.optional(z.record(z.string(), z.string())),
  }),
})

export function parseList(json: string): AppleContainer[] {
  return z
    .array(listEntry)
    .parse(JSON.parse(json || '[]'))
    .map((entry) => ({
      id: entry.id ?? entry.configuration.id ?? '',
      state: typeof entry.status === 'string' ? entry.status : entry.status.state,
      image: entry.configuration.image?.reference ?? '',
      labels: entry.configuration.labels ?? {},
    }))
}

export async function listContainers(): Promise<AppleContainer[]> {
  return parseList((await sh`container list --all --format json`).stdout)
}

export async function runDetached(name: string, image: string, labels: Record<string, string>, env: string[] = []): Promise<void> {
  const labelFlags = Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])
  const envFlags = env.flatMap((entry) => ['--env', entry])
  // Never --rm: a stopped container must stay around to be started again.
  await sh`container run --name ${name} --detach ${labelFlags} ${envFlags} ${image}`
}

const inspectEntry = z.looseObject({
  configuration: z.looseObject({ initProcess: z.optional(z.looseObject({ environment: z.optional(z.array(z.string())) })) }),
})

/** The environment the container's init process runs with (`NAME=value` entries). */
export async function containerEnv(name: string): Promise<string[]> {
  const [entry] = z.array(inspectEntry).parse(JSON.parse((await sh`container inspect ${name}`).stdout))
  return entry?.configuration.initProcess?.environment ?? []
}

export async function startContainer(name: string): Promise<void> {
  await sh`container start ${name}`
}

export async function execAsRoot(name: string, command: string[]): Promise<string> {
  return (await sh`container exec --user root ${name} ${command}`).stdout
}

/** The argv that opens an interactive shell in a container. */
export const shellArgv = (name: string, shell: string[]): [string, ...string[]] => ['container', 'exec', '--interactive', '--tty', name, ...shell]

/** `container exec` of a command whose stdout is data, not text: the argv, for a pipeline. */
export const execArgv = (name: string, command: string[]): [string, ...string[]] => ['container', 'exec', '--user', 'root', name, ...command]

export async function deleteContainer(name: string): Promise<void> {
  await sh`container delete --force ${name}`
}

export async function buildImage(tag: string, dockerfile: string, context: string): Promise<void> {
  await sh`container build --tag ${tag} --file ${dockerfile} ${context}`
}

const NOT_FOUND = /not found/i

export async function imageExists(reference: string): Promise<boolean> {
  const result = await sh({ nothrow: true })`container image inspect ${reference}`
  if (result.exitCode === 0) return true
  if (NOT_FOUND.test(result.stderr)) return false
  throw new ToolError(`container image inspect ${reference}`, result.exitCode, result.stderr)
}

const imageConfigSchema = z.looseObject({
  User: z.optional(z.string()),
  WorkingDir: z.optional(z.string()),
  Env: z.nullish(z.array(z.string())),
  Entrypoint: z.nullish(z.array(z.string())),
  Cmd: z.nullish(z.array(z.string())),
})

const imageInspect = z.array(
  z.looseObject({
    variants: z
      .array(z.looseObject({ size: z.optional(z.number()), config: z.looseObject({ config: z.optional(imageConfigSchema) }) }))
      .check(z.minLength(1)),
  }),
)

/** The run settings of an image (user, workdir, env, entrypoint, cmd): what a snapshot must keep. */
export async function imageConfig(reference: string): Promise<ImageConfig> {
  const [image] = imageInspect.parse(JSON.parse((await sh`container image inspect ${reference}`).stdout))
  return image?.variants[0]?.config.config ?? {}
}

export async function imageSize(reference: string): Promise<number> {
  const [image] = imageInspect.parse(JSON.parse((await sh`container image inspect ${reference}`).stdout))
  return image?.variants[0]?.size ?? 0
}

export async function tagImage(source: string, target: string): Promise<void> {
  await sh`container image tag ${source} ${target}`
}

/** `container image delete` takes several references at once. */
export async function deleteImages(references: string[]): Promise<void> {
  if (references.length > 0) await sh`container image delete ${references}`
}

export async function deleteImage(reference: string): Promise<void> {
  await sh({ nothrow: true })`container image delete ${reference}`
}

/** `container image save` writes an OCI image-layout tar to stdout. */
export const saveArgv = (reference: string): [string, ...string[]] => ['container', 'image', 'save', reference]

export async function loadImage(file: string): Promise<void> {
  await sh`container image load --input ${file}`
}
