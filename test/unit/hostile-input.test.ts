// Hostile input, tried systematically (property-based): whatever comes in, it is refused with a
// plain error or accepted as something safe; nothing is written outside the state root.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE_FORMAT, readBundle, writeBundle } from '../../lib/bundle.ts'
import { UsageError } from '../../lib/errors.ts'
import { isValidSlug, verifySlug } from '../../lib/slug.ts'
import { metadataSchema, readMetadata, stateDir } from '../../lib/state.ts'

let root: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hostile-'))
  process.env.BOT_BOTTLE_HOME = root
})
afterAll(() => {
  delete process.env.BOT_BOTTLE_HOME
  rmSync(root, { recursive: true, force: true })
})

const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('..', '../x', '/etc', 'a/../../b', '-rf', '$(id)', '`id`', 'a;b', 'a b', 'a\nb', '\0', '.', 'CON', 'x'.repeat(64)),
  fc.stringMatching(/^[a-z0-9._-]{0,70}$/),
)

describe('slugs', () => {
  it('an accepted slug always names a directory directly under <root>/state', () => {
    fc.assert(
      fc.property(nasty, (slug) => {
        if (!isValidSlug(slug)) {
          expect(() => verifySlug(slug)).toThrow(UsageError)
          return
        }
        const dir = resolve(stateDir(slug))
        expect(relative(join(root, 'state'), dir)).toBe(slug)
        expect(slug).not.toMatch(/[/\\\0\s$`;]|\.\./)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('metadata.json', () => {
  it('wrong types, missing fields, extra fields and huge values are judged by the schema, never thrown past it', () => {
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }))
    const metadata = fc.record(
      { identity: value, agent_name: value, cwd: value, copy_cwd: value, started_at: value, backend: fc.oneof(value, fc.constantFrom('docker', '', 'smolmachines', 'vmware')), extra: fc.anything() },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.oneof(metadata, fc.anything()), (input) => {
        const result = metadataSchema.safeParse(input)
        if (result.success) {
          expect(typeof result.data.identity).toBe('string')
          expect(typeof result.data.agent_name).toBe('string')
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('a huge metadata.json is read or refused with a message naming the file', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises')
    await mkdir(stateDir('huge-00001'), { recursive: true })
    await writeFile(join(stateDir('huge-00001'), 'metadata.json'), `{"identity":"huge-00001","agent_name":"${'a'.repeat(5_000_000)}"`)
    await expect(readMetadata('huge-00001')).rejects.toThrow(/metadata\.json is not valid JSON/)
  })
})

describe('bundle manifests', () => {
  it('refuses manifests with bad slugs, checksums, versions, sizes and names as bad input, before any payload is read', async () => {
    const field = fc.oneof(
      fc.record({ slug: nasty }),
      fc.record({ version: fc.oneof(fc.integer(), fc.string()) }),
      fc.record({ payload: fc.record({ name: fc.constantFrom('../../etc/passwd', '/abs', 'snapshot.tar/../x', 'manifest.json'), compression: fc.constantFrom('zstd', 'lz4'), size: fc.oneof(fc.integer(), fc.double()), sha256: fc.string() }) }),
      fc.record({ base: fc.record({ image: fc.string(), layers: fc.array(fc.string(), { maxLength: 3 }) }) }),
      fc.record({ backend: fc.string() }),
    )
    let n = 0
    await fc.assert(
      fc.asyncProperty(field, async (override) => {
        const file = join(root, `m${n++}.bottle`)
        await writeBundle(
          file,
          [{ name: 'snapshot.tar', produce: (sink: Writable) => pipeline(Readable.from([Buffer.from('payload')]), sink) }],
          (written) => ({ format: BUNDLE_FORMAT, version: 2, slug: 'dev-abc12', backend: 'docker', snapshot: 's', createdAt: 'now', metadata: { identity: 'dev-abc12', agent_name: 'dev' }, payload: { name: 'snapshot.tar', compression: 'none', ...written.get('snapshot.tar')! }, base: null, ...(override as object) }) as never,
        )
        try {
          const bundle = await readBundle(file)
          // Accepted only when every field is sound.
          expect(isValidSlug(bundle.manifest.slug)).toBe(true)
          expect(bundle.manifest.payload.name).toMatch(/^snapshot\.[a-z.]+$/)
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError)
          expect((error as Error).message).toContain(file)
        }
      }),
      { numRuns: 300 },
    )
    // Nothing but the bundles themselves was written.
    expect(readdirSync(root).filter((name) => !name.endsWith('.bottle') && name !== 'state')).toEqual([])
  })
})
