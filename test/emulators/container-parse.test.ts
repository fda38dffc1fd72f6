// The value grammar of the `container` emulator (Parser.swift's rules) and the label encoding of
// lib/container.ts against it: any metadata, any characters, survives `container run --label`.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeLabelValue, encodeLabelValue, labelFlags, runArgs } from '../../lib/container.ts'
import { memoryMiB, parseLabels, parseMount, parseNetwork, parseVolume, swiftSplit } from './lib/container-parse.mjs'

describe("Swift's split, as Parser.swift uses it", () => {
  it.each([
    ['a=b', 2, ['a', 'b']],
    ['a==b', 2, ['a', 'b']],
    ['k=', 2, ['k']],
    ['=v', 2, ['v']],
    ['a=b=c', 2, ['a', 'b', 'c']],
    ['a=b=c=d', 2, ['a', 'b', 'c=d']],
    ['', 2, []],
  ] as const)('%j split on "=" with maxSplits %i is %j', (text, maxSplits, parts) => {
    expect(swiftSplit(text, '=', { maxSplits })).toEqual(parts)
  })

  it('keeps empty pieces when asked (Parser.network)', () => {
    expect(swiftSplit('net,,mtu=1500', ',', { omittingEmpty: false })).toEqual(['net', '', 'mtu=1500'])
  })
})

describe('labels', () => {
  it('refuses a value holding another "=", as Parser.labels does', () => {
    expect(parseLabels(['a=b', 'flag', 'e=', 'x==y'])).toEqual({ a: 'b', flag: '', e: '', x: 'y' })
    expect(() => parseLabels(['meta={"cwd":"/a=b"}'])).toThrow('invalid label format meta={"cwd":"/a=b"}')
    expect(() => parseLabels([''])).toThrow('label cannot be an empty string')
  })

  it('round-trips any value through the encoding lib/container.ts gives label values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (value) => {
        const [, flag] = labelFlags({ 'bot-bottle.metadata': value })
        const parsed = parseLabels([flag!])
        expect(decodeLabelValue(parsed['bot-bottle.metadata']!)).toBe(value)
      }),
      { numRuns: 500 },
    )
  })

  it('round-trips metadata JSON with "=", the prefix itself and any characters', () => {
    for (const value of [JSON.stringify({ cwd: '/work/a=b', note: 'x==y', emoji: '🦀' }), 'b64u:plain', 'b64u:', '=', 'a=b=c']) {
      expect(decodeLabelValue(parseLabels([`k=${encodeLabelValue(value)}`]).k!)).toBe(value)
    }
    // Plain values stay readable.
    expect(encodeLabelValue('dev-abc12')).toBe('dev-abc12')
  })
})

describe('run values', () => {
  it('parses memory as Measurement.parse does (binary units, whole MiB)', () => {
    expect(memoryMiB('512M')).toBe(512)
    expect(memoryMiB('1g')).toBe(1024)
    expect(memoryMiB('2GiB')).toBe(2048)
    expect(memoryMiB('1048576')).toBe(1)
    expect(() => memoryMiB('12q')).toThrow('invalid symbol: q')
    expect(() => memoryMiB('lots')).toThrow('invalid size')
  })

  it('parses -v, --mount and --network with their real grammar', () => {
    const probe = (path: string) => (path === '/host/dir' ? ('dir' as const) : path === '/host/file' ? ('file' as const) : undefined)
    expect(parseVolume('/host/dir:/data:ro', probe)).toEqual({ kind: 'virtiofs', source: '/host/dir', destination: '/data', options: ['ro'] })
    expect(parseVolume('/host/file:/f', probe)).toMatchObject({ kind: 'virtiofs', source: '/host/file' })
    expect(parseVolume('cache:/c', probe)).toEqual({ kind: 'volume', name: 'cache', destination: '/c', options: [], anonymous: false })
    expect(parseVolume('/anon', probe)).toMatchObject({ kind: 'volume', destination: '/anon', anonymous: true })
    expect(() => parseVolume('/host/gone:/x', probe)).toThrow("path '/host/gone' does not exist")
    expect(() => parseVolume('a:b:c:d', probe)).toThrow('invalid volume format a:b:c:d')
    expect(parseMount('type=bind,source=/host/dir,target=/d,readonly', probe)).toEqual({ kind: 'virtiofs', source: '/host/dir', destination: '/d', options: ['ro'] })
    expect(() => parseMount('source=/host/file,target=/d', probe)).toThrow("path '/host/file' is not a directory")
    expect(() => parseMount('type=volume,source=v,target=/d,size=1M', probe)).toThrow('unsupported option size for volume mount')
    expect(() => parseMount('source=/host/dir,target', probe)).toThrow('invalid directive format missing value target in source=/host/dir,target')
    expect(parseMount('type=tmpfs,target=/t,size=1M,mode=1777', probe)).toEqual({ kind: 'tmpfs', destination: '/t', options: ['size=1048576', 'mode=1777'] })
    expect(parseNetwork('backend,mac=02:42:ac:11:00:02,mtu=1500')).toEqual({ name: 'backend', macAddress: '02:42:ac:11:00:02', mtu: 1500 })
    expect(() => parseNetwork('n,speed=1')).toThrow("unknown network property 'speed'. Available properties: mac, mtu")
  })

  it('gives every bottle the keep-alive command and flags the real parser reads back', () => {
    const args = runArgs({ name: 'bot-bottle-x', image: 'img', labels: { 'bot-bottle.metadata': '{"cwd":"/a=b"}' }, memoryBytes: 256 * 1024 ** 2, binds: [{ source: '/h', target: '/g', readOnly: true }] })
    expect(args).toEqual(expect.arrayContaining(['--entrypoint', 'sleep', '--memory', '256M', '--volume', '/h:/g:ro']))
    expect(args.at(-2)).toBe('img')
    expect(args.at(-1)).toBe('infinity')
    const labels = args.flatMap((arg, i) => (args[i - 1] === '--label' ? [arg] : []))
    expect(() => parseLabels(labels)).not.toThrow()
  })

  it('gives a read-only root and the DNS settings as the flags that set them, --no-dns for none', () => {
    const dns = { nameservers: ['10.0.0.53', '10.0.0.54'], domain: 'corp.example', searchDomains: ['corp.example'], options: ['ndots:2'] }
    expect(runArgs({ name: 'b', image: 'img', labels: {}, readOnly: true, dns }).join(' ')).toContain(
      '--read-only --dns 10.0.0.53 --dns 10.0.0.54 --dns-domain corp.example --dns-search corp.example --dns-option ndots:2',
    )
    expect(runArgs({ name: 'b', image: 'img', labels: {}, dns: null })).toContain('--no-dns')
    const plain = runArgs({ name: 'b', image: 'img', labels: {} })
    expect(plain).not.toContain('--read-only')
    expect(plain.filter((arg) => arg.startsWith('--dns') || arg === '--no-dns')).toEqual([])
  })
})
