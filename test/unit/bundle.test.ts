import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, type Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BUNDLE_FORMAT, checkMember, readBundle, verifyBundle, writeBundle, type BundleManifest } from '../../lib/bundle.ts'
import { UsageError } from '../../lib/errors.ts'
import { withoutLayers } from '../../lib/layers.ts'
import { meter } from '../../lib/pipeline.ts'
import { isRegistryRef } from '../../lib/registry.ts'
import { BLOCK, padding, parseHeader, tarHeader } from '../../lib/tar.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-unit-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function manifestFor(payload: { size: number; sha256: string }, overrides: Partial<BundleManifest> = {}): BundleManifest {
  return {
    format: BUNDLE_FORMAT,
    version: 2,
    slug: 'dev-abc12',
    backend: 'docker',
    snapshot: 'bot-bottle-committed-dev-abc12:latest',
    createdAt: '2026-11-23T00:00:00Z',
    metadata: { identity: 'dev-abc12', agent_name: 'dev' },
    payload: { name: 'snapshot.tar', compression: 'none', ...payload },
    base: null,
    ...overrides,
  }
}

async function bundleOf(payload: Buffer, name = 'b.bottle', overrides: Partial<BundleManifest> = {}): Promise<string> {
  const file = join(dir, name)
  await writeBundle(file, [{ name: 'snapshot.tar', produce: (sink: Writable) => pipeline(Readable.from([payload]), sink) }], (written) => manifestFor(written.get('snapshot.tar')!, overrides))
  return file
}

describe('tar headers', () => {
  it('round-trip names and sizes, including sizes past the 8 GiB octal limit', () => {
    for (const size of [0, 1, 511, 512, 0o77777777777, 20 * 1024 ** 3]) {
      expect(parseHeader(tarHeader('snapshot.tar.zst', size))).toMatchObject({ name: 'snapshot.tar.zst', size, type: '0' })
    }
    expect(parseHeader(Buffer.alloc(BLOCK))).toBeUndefined()
  })

  it('refuse a header whose checksum does not match', () => {
    const header = tarHeader('x', 10)
    header[0] = 'y'.charCodeAt(0)
    expect(() => parseHeader(header)).toThrow(/checksum/)
  })
})

describe('bundle files', () => {
  it('are standard tar files: payload first, manifest last, readable by tar(1)', async () => {
    const payload = Buffer.from('x'.repeat(1000))
    const file = await bundleOf(payload)
    expect((await execa('tar', ['tf', file])).stdout.split('\n')).toEqual(['snapshot.tar', 'manifest.json'])
    expect(Buffer.from((await execa('tar', ['xOf', file, 'snapshot.tar'], { encoding: 'buffer' })).stdout).equals(payload)).toBe(true)
    const bundle = await readBundle(file)
    expect(bundle.manifest.payload).toEqual({ name: 'snapshot.tar', compression: 'none', size: 1000, sha256: sha(payload) })
    await verifyBundle(bundle)
    expect(readdirSync(dir)).toEqual(['b.bottle'])
  })

  it('leave no partial file when producing the payload fails', async () => {
    const failing = writeBundle(
      join(dir, 'f.bottle'),
      [
        {
          name: 'snapshot.tar',
          produce: async () => {
            throw new Error('docker save died')
          },
        },
      ],
      (written) => manifestFor(written.get('snapshot.tar')!),
    )
    await expect(failing).rejects.toThrow('docker save died')
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuse a flipped byte in the payload at verification, before anything is loaded', async () => {
    const file = await bundleOf(Buffer.alloc(4096, 7))
    const fd = openSync(file, 'r+')
    writeSync(fd, Buffer.from([1]), 0, 1, BLOCK + 2000)
    closeSync(fd)
    await expect(verifyBundle(await readBundle(file))).rejects.toThrow(/corrupt/)
  })

  it('verify only the members asked for: import checks the payload as it loads it, not twice', async () => {
    const file = await bundleOf(Buffer.alloc(4096, 7))
    const fd = openSync(file, 'r+')
    writeSync(fd, Buffer.from([1]), 0, 1, BLOCK + 2000)
    closeSync(fd)
    const bundle = await readBundle(file)
    await expect(verifyBundle(bundle, undefined, (member) => member !== 'snapshot.tar')).resolves.toBeUndefined()
    await expect(verifyBundle(bundle, undefined, (member) => member === 'snapshot.tar')).rejects.toThrow(/snapshot\.tar does not match its manifest; nothing was loaded/)
  })

  it('check a member as counted and hashed on its way elsewhere: size and sha256 both', async () => {
    const payload = Buffer.alloc(3000, 5)
    const bundle = await readBundle(await bundleOf(payload))
    const settled = async (data: Buffer) => {
      const counting = meter()
      counting.transform.resume()
      counting.transform.end(data)
      await finished(counting.transform)
      return counting
    }
    expect(() => checkMember(bundle, 'snapshot.tar', { bytes: 3000, sha256: () => sha(payload) }, 'undone')).not.toThrow()
    const other = Buffer.alloc(3000, 6)
    expect(() => checkMember(bundle, 'snapshot.tar', { bytes: 3000, sha256: () => sha(other) }, 'undone')).toThrow(/is corrupt: the sha256 of snapshot\.tar does not match its manifest; undone/)
    expect(() => checkMember(bundle, 'snapshot.tar', { bytes: 2999, sha256: () => sha(payload) }, 'undone')).toThrow(UsageError)
    const whole = await settled(payload)
    const short = await settled(payload.subarray(1))
    expect(() => checkMember(bundle, 'snapshot.tar', whole, 'undone')).not.toThrow()
    expect(() => checkMember(bundle, 'snapshot.tar', short, 'undone')).toThrow(/corrupt/)
  })

  it('refuse truncated files, foreign files and bad manifests as bad input', async () => {
    const good = readFileSync(await bundleOf(Buffer.alloc(3000, 1)))
    const cases: Array<[string, Buffer | string, RegExp]> = [
      ['truncated', good.subarray(0, 2000), /truncated/],
      ['empty', Buffer.alloc(0), /truncated/],
      ['not tar', 'hello world'.repeat(100), /checksum|truncated/],
    ]
    for (const [name, content, message] of cases) {
      writeFileSync(join(dir, name), content)
      await expect(readBundle(join(dir, name)), name).rejects.toThrow(message)
      await expect(readBundle(join(dir, name)), name).rejects.toBeInstanceOf(UsageError)
    }
    await expect(readBundle(join(dir, 'missing'))).rejects.toThrow(/no such bundle/)
  })

  it('refuse a bundle whose members are named to escape (path traversal) without extracting anything', async () => {
    for (const name of ['../../etc/cron.d/x', '/etc/passwd', 'snapshot.tar/../../x']) {
      const data = Buffer.from('evil')
      const file = join(dir, 'evil.bottle')
      writeFileSync(file, Buffer.concat([tarHeader(name, data.length), data, Buffer.alloc(padding(data.length)), Buffer.alloc(2 * BLOCK)]))
      await expect(readBundle(file), name).rejects.toThrow(/does not start with a snapshot payload/)
    }
    expect(readdirSync(dir)).toEqual(['evil.bottle'])
  })

  it('refuse unknown format versions and manifests that do not fit the payload', async () => {
    const future = await bundleOf(Buffer.alloc(10), 'future.bottle', { version: 3 as 2 })
    await expect(readBundle(future)).rejects.toThrow(/format version 3 is not supported/)
    const traversal = await bundleOf(Buffer.alloc(10), 'slug.bottle', { slug: '../../etc' })
    await expect(readBundle(traversal)).rejects.toThrow(/slug/)
  })
})

describe('bundles whose members say one thing here and another to other readers', () => {
  const member = (name: string, data: Buffer, type = '0') => Buffer.concat([tarHeader(name, data.length, undefined, { type }), data, Buffer.alloc(padding(data.length))])
  const END = Buffer.alloc(2 * BLOCK)
  /** A good bundle's bytes up to the end of its manifest (without the end-of-archive blocks). */
  async function goodWithoutEnd(): Promise<Buffer> {
    const good = readFileSync(await bundleOf(Buffer.alloc(1000, 3), 'good.bottle'))
    const manifestAt = BLOCK + 1000 + padding(1000)
    const manifestSize = parseHeader(good.subarray(manifestAt, manifestAt + BLOCK))!.size
    return good.subarray(0, manifestAt + BLOCK + manifestSize + padding(manifestSize))
  }
  async function refused(name: string, content: Buffer, message: RegExp): Promise<void> {
    const file = join(dir, name)
    writeFileSync(file, content)
    const reading = readBundle(file)
    await expect(reading, name).rejects.toThrow(message)
    await expect(reading, name).rejects.toBeInstanceOf(UsageError)
  }

  it('refuse a second manifest.json, which tar(1) would read instead of the first', async () => {
    const first = await goodWithoutEnd()
    const other = Buffer.from(JSON.stringify({ format: BUNDLE_FORMAT, slug: 'other-abc12' }))
    const twice = Buffer.concat([first, member('manifest.json', other), END])
    await refused('twice.bottle', twice, /member manifest\.json appears twice/)
    // The reason: extracted by tar(1), the last of the two is the one left.
    const out = join(dir, 'out')
    mkdirSync(out)
    await execa('tar', ['xf', join(dir, 'twice.bottle'), '-C', out])
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(other.toString())
  })

  it('refuse any member name twice, and anything after the manifest', async () => {
    const payload = member('snapshot.tar', Buffer.alloc(100, 1))
    await refused('payload-twice.bottle', Buffer.concat([payload, payload, END]), /member snapshot\.tar appears twice/)
    const first = await goodWithoutEnd()
    await refused('after.bottle', Buffer.concat([first, member('state/Dockerfile', Buffer.from('FROM x')), END]), /member state\/Dockerfile follows the manifest/)
    await refused('junk.bottle', Buffer.concat([first, END, Buffer.from('junk')]), /data follows its manifest/)
    await refused('long.bottle', Buffer.concat([first, Buffer.alloc(1 << 20)]), /data follows its manifest/)
  })

  it('refuse members that are not plain files or whose names are not plain relative paths', async () => {
    const payload = member('snapshot.tar', Buffer.alloc(100, 1))
    for (const name of ['volumes/../x.tar', '/etc/passwd', 'state//Dockerfile', 'state/./Dockerfile', 'state/Docker\nfile', 'volumes\\..\\x']) {
      await refused('name.bottle', Buffer.concat([payload, member(name, Buffer.from('x')), END]), /is not a plain relative path/)
    }
    for (const type of ['1', '2', '5', 'x', 'L']) {
      await refused('type.bottle', Buffer.concat([payload, member('state/Dockerfile', Buffer.alloc(0), type), END]), /member state\/Dockerfile is not a plain file/)
    }
  })

  it('still read a bundle padded with zeros to a tar record, as tar(1) pads', async () => {
    const first = await goodWithoutEnd()
    const file = join(dir, 'padded.bottle')
    writeFileSync(file, Buffer.concat([first, Buffer.alloc(10240 - (first.length % 10240))]))
    await expect(readBundle(file)).resolves.toMatchObject({ manifest: { slug: 'dev-abc12' } })
  })
})

describe('leaving out base layers', () => {
  function tarOf(entries: Array<[string, Buffer]>): Buffer {
    const parts = entries.flatMap(([name, data]) => [tarHeader(name, data.length), data, Buffer.alloc(padding(data.length))])
    return Buffer.concat([...parts, Buffer.alloc(2 * BLOCK)])
  }
  function namesIn(tar: Buffer): string[] {
    const names: string[] = []
    for (let offset = 0; offset < tar.length; ) {
      const entry = parseHeader(tar.subarray(offset, offset + BLOCK))
      if (!entry) break
      names.push(entry.name)
      offset += BLOCK + entry.size + padding(entry.size)
    }
    return names
  }

  it('drops legacy layer.tar files by content hash and OCI blobs by name, keeps everything else', async () => {
    const base = Buffer.alloc(5000, 1)
    const diff = Buffer.alloc(3000, 2)
    const blob = Buffer.alloc(700, 3)
    const a = 'a'.repeat(64)
    const b = 'b'.repeat(64)
    const input = tarOf([
      [`${a}/json`, Buffer.from('{}')],
      [`${a}/layer.tar`, base],
      [`${b}/layer.tar`, diff],
      [`blobs/sha256/${sha(blob)}`, blob],
      ['manifest.json', Buffer.from('[]')],
    ])
    const result = { droppedLayers: 0 }
    const chunks: Buffer[] = []
    // Odd chunk sizes, so entries straddle chunk boundaries.
    const source = Readable.from(Array.from({ length: Math.ceil(input.length / 777) }, (_, i) => input.subarray(i * 777, (i + 1) * 777)))
    for await (const chunk of withoutLayers(source, new Set([`sha256:${sha(base)}`, `sha256:${sha(blob)}`]), dir, result)) chunks.push(chunk as Buffer)
    const output = Buffer.concat(chunks)
    expect(namesIn(output)).toEqual([`${a}/json`, `${b}/layer.tar`, 'manifest.json'])
    expect(result.droppedLayers).toBe(2)
    expect(output.length % BLOCK).toBe(0)
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('registry references', () => {
  it('need a registry host', () => {
    for (const ref of ['127.0.0.1:5000/bottles/dev:1', 'localhost/x', 'registry.example.com/a/b:latest', `r.io/x@sha256:${'a'.repeat(64)}`]) expect(isRegistryRef(ref), ref).toBe(true)
    for (const ref of ['dev.bottle', 'bottles/dev:1', 'Registry:5000/UPPER', '127.0.0.1:5000/../x', '', 'a b/c']) expect(isRegistryRef(ref), ref).toBe(false)
  })
})
