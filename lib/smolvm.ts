// Thin wrappers around the smolvm CLI (v1.9): one command each, parsed results.
// Every call of `smolvm` in bottle-tasks goes through this file.
// Every machine is named with --name: positional names were dropped in v1.0.2.
import * as z from 'zod/mini'
import './schema.ts'
import { ToolError } from './errors.ts'
import { run, sh, type CommandResult } from './shell.ts'

const machineSchema = z.looseObject({
  name: z.string(),
  state: z.string(),
  cpus: z.optional(z.number()),
  memory_mib: z.optional(z.number()),
  network: z.optional(z.boolean()),
  labels: z.nullish(z.record(z.string(), z.string())),
})
export type Machine = z.infer<typeof machineSchema>

/** `machine ls --json` (list_vms): name, state, cpus, memory_mib, network, labels… of every machine. */
export async function listMachines(): Promise<Machine[]> {
  return z.array(machineSchema).parse(JSON.parse((await sh`smolvm machine ls --json`).stdout || '[]'))
}

/** What `machine create --from` gives a VM beyond its pack. */
export interface MachineSpec {
  name: string
  artifact: string
  labels: Record<string, string>
  /** Absent: the pack's (a value equal to smolvm's default, 4 / 8192, does not override it). */
  cpus?: number
  memoryMib?: number
  network: boolean
  volumes: Array<{ host: string; guest: string; readOnly: boolean }>
  /** HOST:GUEST */
  ports: string[]
  /**
   * `NAME=value`, on smolvm's argv (ps, --verbose) and in its record: never a value from this host's
   * environment (those go in with `execWithInput`). `--secret-env` would keep them off both, but
   * `machine create --from` drops it in v1.9 (run_from_smolmachine takes the pack's secret_refs only).
   */
  env: string[]
}

export function createArgs(spec: MachineSpec): string[] {
  return [
    '--name', spec.name, '--from', spec.artifact,
    ...(spec.cpus === undefined ? [] : ['--cpus', String(spec.cpus)]),
    ...(spec.memoryMib === undefined ? [] : ['--mem', String(spec.memoryMib)]),
    // Without --net a smolvm VM has no network at all.
    ...(spec.network ? ['--net'] : []),
    ...spec.volumes.flatMap((volume) => ['-v', `${volume.host}:${volume.guest}${volume.readOnly ? ':ro' : ''}`]),
    ...spec.ports.flatMap((port) => ['-p', port]),
    ...spec.env.flatMap((entry) => ['-e', entry]),
    ...Object.entries(spec.labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
  ]
}

export async function createFromPack(spec: MachineSpec): Promise<void> {
  await sh`smolvm machine create ${createArgs(spec)}`
}

export async function startMachine(name: string): Promise<void> {
  await sh`smolvm machine start --name ${name}`
}

/** Always -f: without it smolvm asks on stderr and, with no answer, exits 0 without deleting. */
export async function deleteMachine(name: string): Promise<void> {
  await sh`smolvm machine delete --name ${name} -f`
}

/**
 * `machine exec` takes --name only (no -n); the exit status is the guest command's. It runs as the
 * image's USER, with no option to choose another (v1.9 ExecCmd): our packs run as root.
 */
export const execArgv = (name: string, command: string[]): [string, ...string[]] => ['smolvm', 'machine', 'exec', '--name', name, '--', ...command]

/** The argv that opens an interactive shell in a machine. */
export const shellArgv = (name: string, shell: string[]): [string, ...string[]] => ['smolvm', 'machine', 'exec', '--name', name, '-i', '-t', '--', ...shell]

export async function exec(name: string, command: string[]) {
  return sh({ nothrow: true })`smolvm machine exec --name ${name} -- ${command}`
}

/** The argv of `execWithInput`: `-i`, so smolvm forwards its stdin to the command, then EOF. */
export const execWithInputArgv = (name: string, command: string[]): [string, ...string[]] => ['smolvm', 'machine', 'exec', '--name', name, '-i', '--', ...command]

/** Run a command in a machine with `input` on its stdin: what must not be on an argv (ps, --verbose). */
export async function execWithInput(name: string, command: string[], input: string): Promise<CommandResult> {
  return run(execWithInputArgv(name, command), { input, nothrow: true })
}

export async function execOrThrow(name: string, command: string[]): Promise<string> {
  const result = await exec(name, command)
  if (result.exitCode !== 0) throw new ToolError(execArgv(name, command).join(' '), result.exitCode, result.stderr || result.stdout)
  return result.stdout
}

/** Copy one file out of a running machine. */
export async function copyOut(name: string, guestPath: string, hostPath: string): Promise<void> {
  await sh`smolvm machine cp ${`${name}:${guestPath}`} ${hostPath}`
}

/** `pack create` writes `output` (a launcher) and `output.smolmachine` (the artifact). */
export async function packImage(imageRef: string, output: string): Promise<void> {
  await sh`smolvm pack create --image ${imageRef} -o ${output}`
}

/** Whether a failure of `pack create` is its pull of the image (which it does inside a helper VM). */
export const isPullFailure = (error: unknown) => error instanceof ToolError && /failed to pull|pull(ing)? image/i.test(error.stderr)
