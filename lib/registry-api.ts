// Reading an image in a registry without pulling it (the OCI distribution API over fetch): import
// shows what a bottle asks for from its config's labels before a layer comes down, and pulls
// exactly that manifest afterwards (by digest), so what was shown is what runs. Anonymous access
// only (a bearer token asked without credentials): a registry that wants a login is pulled first
// and checked before anything is named after it (undefined here).
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { BLOCK, padding, parseHeader } from './tar.ts'

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')
/** What a manifest or a config may weigh here: they are JSON of a few KiB. */
const MAX_DOCUMENT = 4 * 1024 * 1024

interface Reference {
  host: string
  repository: string
  /** Tag or digest. */
  ref: string
}

export function parseReference(reference: string): Reference {
  const at = reference.indexOf('@')
  const slash = reference.indexOf('/')
  const host = reference.slice(0, slash)
  const rest = at >= 0 ? reference.slice(slash + 1, at) : reference.slice(slash + 1)
  const colon = rest.lastIndexOf(':')
  const repository = colon >= 0 ? rest.slice(0, colon) : rest
  const ref = at >= 0 ? reference.slice(at + 1) : colon >= 0 ? rest.slice(colon + 1) : 'latest'
  return { host, repository, ref }
}

/** A registry on loopback speaks plain HTTP, as docker allows it (it is insecure by default there). */
const isLoopback = (host: string) => /^(localhost|127(\.\d+){3}|\[::1\])(:\d+)?$/.test(host)

export interface RemoteImage {
  /** The manifest's digest (of what the tag named): what a pull by digest gets, what a signature signs. */
  digest: string
  /** `host/repository@digest`: pulls exactly what was read. */
  pinned: string
  labels: Record<string, string>
}

class Unreadable extends Error {}

/**
 * fetch with a deadline held by a timer that keeps the process alive: a request the runtime stops
 * tracking (a connection the server dropped) would otherwise leave a promise nothing settles, and
 * Node ends a process whose event loop is empty with exit code 13. AbortSignal.timeout's timer
 * does not keep the loop alive; this one does, and aborts the request when it fires.
 */
export async function fetchWithDeadline(url: string | URL, init: RequestInit, ms: number, maxBytes = 0): Promise<{ response: Response; bytes: Buffer }> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${String(url)} within ${ms / 1000} s`)), ms)
  try {
    const response = await fetch(url, { ...init, signal: controller.signal })
    const length = Number(response.headers.get('content-length') ?? 0)
    if (!response.ok || maxBytes === 0 || length > maxBytes) {
      await response.body?.cancel()
      return { response, bytes: Buffer.alloc(0) }
    }
    return { response, bytes: Buffer.from(await response.arrayBuffer()) }
  } finally {
    clearTimeout(timer)
  }
}

/** The image's digest and labels, read without pulling; undefined when the registry will not say without credentials. */
export async function readRemoteImage(reference: string): Promise<RemoteImage | undefined> {
  const target = parseReference(reference)
  const client = registryClient(target)
  try {
    const top = await client.manifest(target.ref)
    let manifest = top.json as { manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string } }>; config?: { digest: string } }
    if (manifest.manifests) {
      const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? process.arch
      const chosen = manifest.manifests.find((entry) => entry.platform?.os === 'linux' && entry.platform.architecture === arch)
      if (!chosen) throw new Unreadable(`no linux/${arch} image`)
      manifest = (await client.manifest(chosen.digest)).json as typeof manifest
    }
    if (!manifest.config) throw new Unreadable('a manifest without a config')
    const config = JSON.parse((await client.blob(manifest.config.digest)).toString('utf8')) as { config?: { Labels?: Record<string, string> | null } }
    return { digest: top.digest, pinned: `${target.host}/${target.repository}@${top.digest}`, labels: config.config?.Labels ?? {} }
  } catch (error) {
    if (error instanceof Unreadable || error instanceof TypeError || error instanceof SyntaxError) return undefined
    throw error
  }
}

/** The tag under which a signature of `digest` travels (cosign's convention: `sha256-<hex>.sig`). */
export const signatureTag = (digest: string) => `${digest.replace(':', '-')}.sig`

/**
 * The signature of `digest` pushed beside it (an image of one layer holding the file `signature`),
 * or undefined when there is none or it cannot be read.
 */
export async function readRemoteSignature(reference: string, digest: string): Promise<string | undefined> {
  const target = parseReference(reference)
  const client = registryClient(target)
  try {
    const manifest = (await client.manifest(signatureTag(digest))).json as { layers?: Array<{ digest: string }> }
    const layer = manifest.layers?.[0]
    if (!layer || manifest.layers!.length !== 1) return undefined
    return fileInTar(await client.blob(layer.digest), 'signature')
  } catch (error) {
    if (error instanceof Unreadable || error instanceof TypeError || error instanceof SyntaxError) return undefined
    throw error
  }
}

/** A file of a (possibly gzipped) tar, as text. */
function fileInTar(archive: Buffer, name: string): string | undefined {
  const tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive, { maxOutputLength: MAX_DOCUMENT }) : archive
  for (let offset = 0; offset + BLOCK <= tar.length; ) {
    const entry = parseHeader(tar.subarray(offset, offset + BLOCK))
    if (!entry) return undefined
    if (entry.name.replace(/^\.?\//, '') === name) return tar.subarray(offset + BLOCK, offset + BLOCK + entry.size).toString('utf8')
    offset += BLOCK + entry.size + padding(entry.size)
  }
  return undefined
}

function registryClient({ host, repository }: Reference) {
  const base = `${isLoopback(host) ? 'http' : 'https'}://${host}/v2/${repository}`
  let token: string | undefined
  const get = async (path: string, accept: string): Promise<Buffer> => {
    const request = () => fetchWithDeadline(`${base}${path}`, { headers: { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) } }, 30_000, MAX_DOCUMENT)
    let { response, bytes } = await request()
    if (response.status === 401 && !token) {
      token = await anonymousToken(response.headers.get('www-authenticate') ?? '', repository)
      ;({ response, bytes } = await request())
    }
    if (!response.ok) throw new Unreadable(`${path}: HTTP ${response.status}`)
    if (bytes.length === 0 || bytes.length > MAX_DOCUMENT) throw new Unreadable('a document too large (or empty) to be a manifest or config')
    return bytes
  }
  return {
    async manifest(ref: string): Promise<{ digest: string; json: unknown }> {
      const bytes = await get(`/manifests/${ref}`, MANIFEST_TYPES)
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
      // A manifest asked by digest must be that digest (the registry is not trusted to say).
      if (ref.startsWith('sha256:') && ref !== digest) throw new Unreadable(`manifest ${ref} does not match its digest`)
      return { digest, json: JSON.parse(bytes.toString('utf8')) }
    },
    async blob(digest: string): Promise<Buffer> {
      const bytes = await get(`/blobs/${digest}`, '*/*')
      if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw new Unreadable(`blob ${digest} does not match its digest`)
      return bytes
    },
  }
}

/** A bearer token asked without credentials (Docker Hub and distribution registries give one for public pulls). */
async function anonymousToken(challenge: string, repository: string): Promise<string> {
  const fields = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]))
  if (!/^Bearer /i.test(challenge) || !fields.realm) throw new Unreadable('the registry wants credentials')
  const url = new URL(fields.realm)
  if (fields.service) url.searchParams.set('service', fields.service)
  url.searchParams.set('scope', `repository:${repository}:pull`)
  const { response, bytes } = await fetchWithDeadline(url, {}, 30_000, MAX_DOCUMENT)
  if (!response.ok) throw new Unreadable('the registry wants credentials')
  const json = JSON.parse(bytes.toString('utf8')) as { token?: string; access_token?: string }
  const token = json.token ?? json.access_token
  if (!token) throw new Unreadable('the registry gave no token')
  return token
}
