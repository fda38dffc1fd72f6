// Thin wrappers around the smolvm CLI (v1.9): one command each, parsed results.
// Every machine is named with --name: positional names were dropped in v1.0.2.
import * as z from 'zod/mini'
import './schema.ts'
import { ToolError } from './errors.ts'
import { sh } from './shell.ts'

const machineSchema = z.looseObject({
  name: z.string(),
  state: z.string(),
  labels: z.nullish(z.record(z.string(), z.string())),
})
export type Machine = z.infer<typeof machineSchema>

export async function listMachines(): Promise<Machine[]> {
  return z.array(machineSchema).parse(JSON.parse((await sh`smolvm machine ls --json`).stdout || '[]'))
}

export async function createFromPack(name: string, artifact: string, labels: Record<string, string>): Promise<void> {
  const labelFlags = Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])
  // --net: an agent needs the network (without it a smolvm VM has none).
  await sh`smolvm machine create --name ${name} --from ${artifact} --net ${labelFlags}`
}

export async function startMachine(name: string): Promise<void> {
  await sh`smolvm machine start --name ${name}`
}

/** Always -f: without it smolvm asks on stderr and, with no answer, exits 0 without deleting. */
export async function deleteMachine(name: string): Promise<void> {
  await sh`smolvm machine delete --name ${name} -f`
}

/** `machine exec` takes --name only (no -n); the exit status is the guest command's. */
export const execArgv = (name: string, command: string[]): [string, ...string[]] => ['smolvm', 'machine', 'exec', '--name', name, '--', ...command]

/** The argv that opens an interactive shell in a machine. */
export const shellArgv = (name: string, shell: string[]): [string, ...string[]] => ['smolvm', 'machine', 'exec', '--name', name, '-i', '-t', '--', ...shell]

export async function exec(name: string, command: string[]) {
  return sh({ nothrow: true })`smolvm machine exec --name ${name} -- ${command}`
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
