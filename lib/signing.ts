// Signed bottles: `export --sign KEY` signs what describes the bottle (a bundle's manifest, which
// holds the sha256 of every member; a registry manifest's digest) with an SSH key, as
// `ssh-keygen -Y sign` does for git (namespace "bottle-tasks", so a signature made for anything else
// never verifies here). Import checks it against OpenSSH's allowed_signers: a good signature from an
// allowed signer makes the bottle trusted; one that does not verify is refused; an unknown signer
// is no signer (the bottle is held to the baseline). ssh-keygen does the cryptography: nothing here
// parses keys or signatures.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { OperationError, ToolError, UsageError } from './errors.ts'
import { run } from './shell.ts'
import { stateRoot } from './state.ts'
import { makeWorkDir } from './workdir.ts'

export const SIGNATURE_NAMESPACE = 'bottle-tasks'

/** Where import looks for allowed signers unless --signers names a file. */
export const defaultSigners = () => join(stateRoot(), 'allowed_signers')

/** The SSH signature (armored text) of `data` made with the private key in `keyFile`. */
export async function sign(data: Buffer, keyFile: string): Promise<string> {
  if (!existsSync(keyFile)) throw new UsageError(`--sign ${keyFile}: no such key file`)
  try {
    // No file given: ssh-keygen signs its stdin and writes the signature to stdout.
    return (await run(['ssh-keygen', '-q', '-Y', 'sign', '-f', keyFile, '-n', SIGNATURE_NAMESPACE], { input: data })).stdout
  } catch (error) {
    if (error instanceof ToolError && error.exitCode !== 127) throw new OperationError(`ssh-keygen could not sign with ${keyFile}: ${error.message}`)
    throw error
  }
}

export type Verdict = { kind: 'signed'; signer: string } | { kind: 'unknown-signer' } | { kind: 'unsigned' }

/**
 * Who signed `data`, by `signature`, among the allowed signers in `signersFile`. A signature that
 * does not verify, with the key it names, is bad input (exit 2): the bottle was changed after it was
 * signed, or the signature was.
 */
export async function verify(data: Buffer, signature: string | undefined, signersFile: string, what: string): Promise<Verdict> {
  if (signature === undefined) return { kind: 'unsigned' }
  const work = await makeWorkDir('signature')
  try {
    const file = join(work.path, 'signature')
    await writeFile(file, signature)
    // First against the key the signature names itself: a signature that does not verify at all is
    // refused whoever made it (a changed byte), not taken for an unknown signer's.
    const checked = await run(['ssh-keygen', '-Y', 'check-novalidate', '-n', SIGNATURE_NAMESPACE, '-s', file], { input: data, nothrow: true })
    if (checked.exitCode === 127) throw new OperationError('ssh-keygen is not on PATH: install OpenSSH (openssh-client) to check signatures')
    if (checked.exitCode !== 0) throw new UsageError(`${what}: its signature does not verify (the bottle or its signature was changed after signing); nothing was loaded`)
    if (!existsSync(signersFile)) return { kind: 'unknown-signer' }
    const found = await run(['ssh-keygen', '-Y', 'find-principals', '-s', file, '-f', signersFile, '-n', SIGNATURE_NAMESPACE], { nothrow: true })
    const principal = found.exitCode === 0 ? found.stdout.split('\n')[0]?.trim() : undefined
    if (!principal) return { kind: 'unknown-signer' }
    const verified = await run(['ssh-keygen', '-Y', 'verify', '-f', signersFile, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', file], { input: data, nothrow: true })
    if (verified.exitCode !== 0) throw new UsageError(`${what}: its signature by ${principal} does not verify against ${signersFile} (${verified.stderr.trim().split('\n').at(-1)}); nothing was loaded`)
    return { kind: 'signed', signer: principal }
  } finally {
    await work.remove()
  }
}
