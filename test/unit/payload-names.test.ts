// lib/payload-names.ts: a `docker save` archive (legacy, and the OCI layout of engines 25+) copied
// so that it names no image, or only the one import chose; layers byte for byte the same; archives
// that would name something anyway (a second manifest.json, a symlinked one, keys in another case)
// refused as bad input.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, gzipSync } from 'node:zlib'
import { execa } from 'execa'
import * as tar from 'tar-stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../../lib/errors.ts'
import { namedOnly, withoutImageNames } from '../../lib/payload-names.ts'
import { runPipelineThrough } from '../../lib/pipeline.ts'
import { BLOCK, padding, parseHeader } from '../../lib/tar.ts'

interface Member {
  name: string
  data?: Buffer | string
  type?: tar.Header['type']
  linkname?: string
  pax?: Record<string, string>
}

async function tarOf(members: Member[]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const collected = pipeline(pack, new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk), done()) }))
  for (const { name, data, type = 'file', linkname, pax } of members) {
    const bytes = typeof data === 'string' ? Buffer.from(data) : (data ?? Buffer.alloc(0))
    await new Promise<void>((resolve, reject) => pack.entry({ name, type, size: bytes.length, mtime: new Date(0), ...(linkname ? { linkname } : {}), ...(pax ? { pax } : {}) }, bytes, (error) => (error ? reject(error) : resolve())))
  }
  pack.finalize()
  await collected
  return Buffer.concat(chunks)
}

interface Read {
  name: string
  type: string
  linkname: string | null
  data: Buffer
}

async function membersOf(archive: Buffer): Promise<Read[]> {
  const extract = tar.extract()
  const read = pipeline(Readable.from([archive]), extract)
  const members: Read[] = []
  for await (const entry of extract) {
    const chunks: Buffer[] = []
    for await (const chunk of entry) chunks.push(chunk as Buffer)
    members.push({ name: entry.header.name, type: entry.header.type, linkname: entry.header.linkname ?? null, data: Buffer.concat(chunks) })
  }
  await read
  return members
}

async function copied(archive: Buffer, through = withoutImageNames()): Promise<Buffer> {
  const chunks: Buffer[] = []
  await pipeline(Readable.from([archive]), through, new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk), done()) }))
  return Buffer.concat(chunks)
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const json = (value: unknown) => JSON.stringify(value)
const member = (members: Read[], name: string) => members.find((entry) => entry.name === name)

const layer = randomBytes(3 << 20)
const layerId = sha(layer)
const config = Buffer.from(json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${layerId}`] } }))
const configId = sha(config)

/** What engines before 25 write: a directory per layer (a repeated layer as a symlink), manifest.json with RepoTags, `repositories`. */
function legacyArchive(repoTags: string[] = ['debian:bookworm-slim', 'bot-bottle-committed-other-abc12:latest']): Member[] {
  const [first, second] = [sha(Buffer.from('v1-a')), sha(Buffer.from('v1-b'))]
  return [
    { name: `${first}/`, type: 'directory' },
    { name: `${first}/VERSION`, data: '1.0' },
    { name: `${first}/json`, data: json({ id: first }) },
    { name: `${first}/layer.tar`, data: layer },
    { name: `${second}/`, type: 'directory' },
    { name: `${second}/layer.tar`, type: 'symlink', linkname: `../${first}/layer.tar` },
    { name: `${configId}.json`, data: config },
    { name: 'manifest.json', data: json([{ Config: `${configId}.json`, RepoTags: repoTags, Layers: [`${first}/layer.tar`, `${second}/layer.tar`] }]) },
    { name: 'repositories', data: json({ debian: { 'bookworm-slim': first } }) },
  ]
}

/** What engines 25+ write (engine 29's containerd store alike): an OCI layout with a manifest.json beside it. */
function ociArchive(annotations: Record<string, string> = { 'io.containerd.image.name': 'docker.io/library/debian:bookworm-slim', 'org.opencontainers.image.ref.name': 'bookworm-slim', 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' }): Member[] {
  const manifest = Buffer.from(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: `sha256:${configId}`, size: config.length }, layers: [{ digest: `sha256:${layerId}`, size: layer.length }] }))
  return [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    { name: `blobs/sha256/${configId}`, data: config },
    { name: `blobs/sha256/${layerId}`, data: layer },
    { name: `blobs/sha256/${sha(manifest)}`, data: manifest },
    { name: 'index.json', data: json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length, annotations }] }) },
    { name: 'manifest.json', data: json([{ Config: `blobs/sha256/${configId}`, RepoTags: ['debian:bookworm-slim'], Layers: [`blobs/sha256/${layerId}`] }]) },
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
  ]
}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'payload-names-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** GNU tar's reading of the copy: what a reader other than ours makes of it. */
async function gnuTarList(archive: Buffer): Promise<string[]> {
  const file = join(dir, 'copy.tar')
  writeFileSync(file, archive)
  return (await execa('tar', ['tf', file])).stdout.split('\n')
}

describe('a docker save archive on its way to docker load', () => {
  it('legacy: manifest.json names nothing, `repositories` is gone, every other member is byte for byte the same', async () => {
    const original = legacyArchive()
    const copy = await copied(await tarOf(original))
    const members = await membersOf(copy)
    expect(members.map((entry) => entry.name)).toEqual(original.filter((entry) => entry.name !== 'repositories').map((entry) => entry.name))
    expect(JSON.parse(member(members, 'manifest.json')!.data.toString())).toEqual([{ Config: `${configId}.json`, RepoTags: null, Layers: expect.any(Array) }])
    for (const { name, data, type, linkname } of original.filter((entry) => !['manifest.json', 'repositories'].includes(entry.name))) {
      const copied = member(members, name)!
      expect(copied.type, name).toBe(type ?? 'file')
      expect(copied.linkname ?? undefined, name).toBe(linkname)
      expect(sha(copied.data), name).toBe(sha(typeof data === 'string' ? Buffer.from(data) : (data ?? Buffer.alloc(0))))
    }
    expect(await gnuTarList(copy)).not.toContain('repositories')
  })

  it('OCI layout: index.json keeps its other annotations but no name; manifest.json names nothing; blobs unchanged', async () => {
    const original = ociArchive()
    const members = await membersOf(await copied(await tarOf(original)))
    const index = JSON.parse(member(members, 'index.json')!.data.toString())
    expect(index.manifests[0].annotations).toEqual({ 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' })
    expect(index.manifests[0]).toMatchObject({ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: expect.any(Number) })
    expect(JSON.parse(member(members, 'manifest.json')!.data.toString())[0].RepoTags).toBeNull()
    expect(sha(member(members, `blobs/sha256/${layerId}`)!.data)).toBe(layerId)
    // An index whose only annotations were names loses the field, as docker save of an id writes it.
    const bare = await membersOf(await copied(await tarOf(ociArchive({ 'io.containerd.image.name': 'docker.io/library/debian:bookworm-slim' }))))
    expect(JSON.parse(member(bare, 'index.json')!.data.toString()).manifests[0]).not.toHaveProperty('annotations')
  })

  it('names only the reference asked for, under every annotation a loader reads (Apple’s container image load)', async () => {
    const members = await membersOf(await copied(await tarOf(ociArchive().filter((entry) => entry.name !== 'manifest.json')), namedOnly('bot-bottle-import-0a1b2c:latest')))
    expect(JSON.parse(member(members, 'index.json')!.data.toString()).manifests[0].annotations).toEqual({
      'org.opencontainers.image.created': '2026-01-01T00:00:00Z',
      'io.containerd.image.name': 'bot-bottle-import-0a1b2c:latest',
      'org.opencontainers.image.ref.name': 'bot-bottle-import-0a1b2c:latest',
      'com.apple.containerization.image.name': 'bot-bottle-import-0a1b2c:latest',
    })
  })

  it('reads the keys Go’s JSON decoder would take for RepoTags, manifests and annotations, whatever their case', async () => {
    const sneaky = await tarOf([{ name: 'manifest.json', data: '[{"Config":"c.json","RepoTags":null,"repotags":["debian:bookworm-slim"],"RepoTag\u017f":["x:y"]}]' }])
    expect(JSON.parse(member(await membersOf(await copied(sneaky)), 'manifest.json')!.data.toString())).toEqual([{ Config: 'c.json', RepoTags: null }])
    const annotated = await tarOf([{ name: 'index.json', data: json({ schemaVersion: 2, MANIFESTS: [{ digest: 'sha256:0', Annotations: { 'io.containerd.image.name': 'debian:bookworm-slim', keep: 'me' } }] }) }])
    expect(JSON.parse(member(await membersOf(await copied(annotated)), 'index.json')!.data.toString())).toEqual({ schemaVersion: 2, MANIFESTS: [{ digest: 'sha256:0', annotations: { keep: 'me' } }] })
  })

  it('writes headers anew: no extension of the sender’s (a pax GNU.sparse.name) reaches the engine', async () => {
    const copy = await copied(await tarOf([{ name: 'blobs/sha256/aa', data: 'x', pax: { 'GNU.sparse.name': 'manifest.json', 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }]))
    const types: string[] = []
    for (let offset = 0; offset + BLOCK <= copy.length; ) {
      const header = parseHeader(copy.subarray(offset, offset + BLOCK))
      if (!header) break
      types.push(`${header.type} ${header.name}`)
      offset += BLOCK + header.size + padding(header.size)
    }
    expect(types).toEqual(['0 blobs/sha256/aa'])
    expect(await gnuTarList(copy)).toEqual(['blobs/sha256/aa'])
  })

  it('streams: a large layer passes without being held in memory', async () => {
    const size = 512 << 20
    const chunk = Buffer.alloc(1 << 20, 7)
    const pack = tar.pack()
    const producing = pipeline(Readable.from((function* () {
      for (let sent = 0; sent < size; sent += chunk.length) yield chunk
    })()), pack.entry({ name: 'big/layer.tar', size, type: 'file' })).then(() => pack.finalize())
    const before = process.memoryUsage().rss
    let bytes = 0
    await pipeline(pack, withoutImageNames(), new Writable({ write: (data: Buffer, _encoding, done) => void ((bytes += data.length), done()) }))
    await producing
    expect(bytes).toBeGreaterThan(size + BLOCK)
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20)
  })
})

describe('archives that would name something anyway are refused as bad input', () => {
  const oci = ociArchive()
  const cases: Array<[string, Member[], RegExp]> = [
    ['a second manifest.json', [...oci, { name: 'manifest.json', data: json([{ Config: 'x', RepoTags: ['debian:bookworm-slim'], Layers: [] }]) }], /member manifest\.json appears twice/],
    ['the same name spelled another way', [...oci, { name: './index.json', data: '{}' }], /member index\.json appears twice/],
    ['a name differing only in case (one file on a case-insensitive file system)', [...oci, { name: 'Index.json', data: '{}' }], /member Index\.json appears twice/],
    ['a symlinked manifest.json', [{ name: 'evil.json', data: '[]' }, { name: 'manifest.json', type: 'symlink', linkname: 'evil.json' }], /member manifest\.json stands for manifest\.json but is not a plain file/],
    ['a hard-linked index.json', [{ name: 'evil.json', data: '{}' }, { name: 'index.json', type: 'link', linkname: 'evil.json' }], /stands for index\.json/],
    ['a member under a symlink (it would replace manifest.json)', [{ name: 'manifest.json', data: '[{}]' }, { name: 'd', type: 'symlink', linkname: '.' }, { name: 'd/manifest.json', data: '[{"RepoTags":["debian:x"]}]' }], /member d\/manifest\.json lies under the symlink d/],
    ['a member leaving the archive', [{ name: '../manifest.json', data: '[]' }], /leaves the archive/],
    ['an absolute member name', [{ name: '/manifest.json', data: '[]' }], /is not a relative path/],
    ['a device', [{ name: 'dev', type: 'character-device' }], /is a character-device/],
    ['two images', [{ name: 'manifest.json', data: json([{ RepoTags: null }, { RepoTags: null }]) }], /manifest\.json does not describe exactly one image/],
    ['two lists of manifests', [{ name: 'index.json', data: json({ manifests: [{ digest: 'a' }], Manifests: [{ digest: 'b', annotations: { 'io.containerd.image.name': 'debian:x' } }] }) }], /index\.json does not list exactly one image/],
    ['a manifest.json that is not JSON', [{ name: 'manifest.json', data: '[{"RepoTags":' }], /manifest\.json is not JSON/],
    ['a huge manifest.json', [{ name: 'manifest.json', data: Buffer.alloc((1 << 20) + 1, 32) }], /absurdly large/],
  ]
  for (const [what, members, message] of cases) {
    it(what, async () => {
      const failure = await copied(await tarOf(members)).catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(UsageError)
      expect((failure as Error).message).toMatch(message)
      expect((failure as Error).message).toContain('nothing was loaded from it')
    })
  }

  it('reads a path that comes back into the archive as the file it names, and writes it under that name', async () => {
    const members = await membersOf(await copied(await tarOf([{ name: 'blobs/../manifest.json', data: json([{ Config: 'c', RepoTags: ['debian:bookworm-slim'] }]) }])))
    expect(members.map((entry) => entry.name)).toEqual(['manifest.json'])
    expect(JSON.parse(members[0]!.data.toString())[0].RepoTags).toBeNull()
  })
})

describe('wired as the docker backend loads a payload (tar(1) standing in for docker load)', () => {
  /** Lists what it reads, and leaves a marker only once its input has ended (docker load acts then). */
  const loader = () => ['sh', '-c', `tar tvf - | awk '{print $1, $NF}'; touch '${join(dir, 'saw-the-end')}'`] as [string, ...string[]]

  it('gunzip → the copy naming nothing → the loader', async () => {
    const payload = gzipSync(await tarOf(legacyArchive()))
    const listed = await runPipelineThrough([], [createGunzip(), withoutImageNames()], [loader()], Readable.from([payload]))
    expect(listed).toContain('-rw-r--r-- manifest.json')
    expect(listed).not.toContain('repositories')
    expect(existsSync(join(dir, 'saw-the-end'))).toBe(true)
  })

  it('a payload refused after its layers went through: the loader is stopped before its input ends', async () => {
    const payload = gzipSync(await tarOf([...ociArchive(), { name: 'manifest.json', data: json([{ Config: 'x', RepoTags: ['debian:bookworm-slim'], Layers: [] }]) }]))
    const failure = await runPipelineThrough([], [createGunzip(), withoutImageNames()], [loader()], Readable.from([payload])).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(UsageError)
    expect((failure as Error).message).toMatch(/member manifest\.json appears twice; nothing was loaded from it/)
    expect(existsSync(join(dir, 'saw-the-end'))).toBe(false)
  })
})
