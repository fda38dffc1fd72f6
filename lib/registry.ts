// OCI registry references, and short-lived registries on loopback.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { registerCleanup } from './cleanup.ts'
import * as docker from './docker.ts'
import { OperationError, UsageError } from './errors.ts'
import { runPipeline } from './pipeline.ts'
import { fetchWithDeadline, parseReference, signatureTag } from './registry-api.ts'
import { isOnPath } from './shell.ts'
import { BLOCK, padding, tarHeader } from './tar.ts'

// host[:port]/path[:tag][@digest], lowercase path components as the distribution spec allows.
const REFERENCE = /^(?<host>[a-zA-Z0-9.-]+(?::[0-9]+)?)\/(?<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[0-9a-f]{64}))?$/

/** A reference that names its registry host (as docker decides: a dot, a port, or localhost). */
export function isRegistryRef(value: string): boolean {
  const host = REFERENCE.exec(value)?.groups?.host
  return host !== undefined && (host.includes('.') || host.includes(':') || host === 'localhost')
}

export function verifyRegistryRef(value: string): string {
  if (!isRegistryRef(value)) {
    throw new UsageError(`invalid registry reference ${JSON.stringify(value)}: use REGISTRY[:PORT]/REPO[:TAG], e.g. 127.0.0.1:5000/bottles/dev:latest`)
  }
  return value
}

/**
 * A registry that lives for one operation: a container on its own network, its port published on
 * 127.0.0.1 only. Registered for removal before it is created, so success, failure and Ctrl-C
 * all tear it down.
 */
export interface EphemeralRegistry {
  /** host:port on loopback. */
  address: string
  stop: () => Promise<void>
}

export const REGISTRY_LABEL = 'bottle-tasks.ephemeral-registry'
export const OWNER_PID_LABEL = 'bottle-tasks.owner-pid'
export const OWNER_HOST_LABEL = 'bottle-tasks.owner-host'

export async function startEphemeralRegistry(image: string): Promise<EphemeralRegistry> {
  const name = `bottle-tasks-registry-${randomBytes(4).toString('hex')}`
  // The owner's pid and host let cleanup remove the registries of crashed tasks, and only those.
  const labels = [`${REGISTRY_LABEL}=1`, `${OWNER_PID_LABEL}=${process.pid}`, `${OWNER_HOST_LABEL}=${hostname()}`].flatMap((label) => ['--label', label])
  let creation: Promise<unknown> = Promise.resolve()
  const stop = async () => {
    // An interrupt can land while `docker run` is in flight: the engine may still create the
    // container after we asked to remove it, so wait for the creation to settle first.
    await creation.catch(() => {})
    await docker.removeContainerQuietly(name, { volumes: true })
    await docker.removeNetworkQuietly(name)
  }
  const forget = registerCleanup(stop)
  creation = (async () => {
    await docker.createNetwork(labels, name)
    await docker.runDetached(['--name', name, ...labels, '--network', name, '--publish', '127.0.0.1::5000'], image)
  })()
  await creation
  const address = await docker.publishedAddress(name, '5000/tcp')
  await waitForRegistry(address)
  return {
    address,
    stop: async () => {
      await stop()
      forget()
    },
  }
}

async function waitForRegistry(address: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 50
  for (;;) {
    try {
      const { response } = await fetchWithDeadline(`http://${address}/v2/`, {}, 5_000)
      if (response.ok || response.status === 401) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new OperationError(`the temporary registry on ${address} did not answer within ${timeoutMs / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 1000)
  }
}

/**
 * Push a `docker save` tarball: crane when installed, else skopeo, else the engine itself. crane and
 * skopeo read the tarball themselves and run as a pipeline stage (execa, nothing kept in memory).
 */
export async function pushTarball(tarball: string, imageRef: string, target: string): Promise<string> {
  if (await isOnPath('crane')) {
    await runPipeline([['crane', 'push', '--insecure', tarball, target]])
    return 'crane'
  }
  if (await isOnPath('skopeo')) {
    await runPipeline([['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${tarball}`, `docker://${target}`]])
    return 'skopeo'
  }
  await docker.pushAs(imageRef, target)
  return 'docker push'
}

/**
 * Push the signature of `digest` beside it in the repository of `target`, under the tag cosign uses
 * for one (`sha256-<hex>.sig`): an image of one layer holding the file `signature`. Made with the
 * engine (no other tool needed), pushed, and its local name removed again.
 */
export async function pushSignature(target: string, digest: string, signature: string): Promise<string> {
  const { host, repository } = parseReference(target)
  const reference = `${host}/${repository}:${signatureTag(digest)}`
  const content = Buffer.from(signature)
  await docker.importImage(Buffer.concat([tarHeader('signature', content.length), content, Buffer.alloc(padding(content.length) + 2 * BLOCK)]), reference)
  // pushAs tags it as itself, pushes, and removes the name (and with it the image).
  await docker.pushAs(reference, reference)
  return reference
}
