import { describe, expect, it } from 'vitest'
import { diffLists, excluder, parseFind, planDelta, type FileEntry, type FileList } from '../../lib/file-list.ts'

const row = (type: string, path: string, { mode = '644', size = 0, ctime = '100.0', device = '42', uid = 0 } = {}) => `${type}\t${mode}\t${uid}\t0\t${size}\t${ctime}\t${device}\t${path}\0`
const entry = (type: string, version: string, extra: Partial<FileEntry> = {}): FileEntry => ({ type, mode: 0o644, uid: 0, gid: 0, size: 0, version, ...extra })
const list = (entries: Record<string, FileEntry>): FileList => new Map(Object.entries(entries))

describe('parseFind', () => {
  it('marks mount points (another device) as m, and keeps no sockets and no /', () => {
    const files = parseFind(
      row('d', '/', { mode: '755' }) +
        row('f', '/etc/hosts', { device: '7' }) +
        row('d', '/proc', { device: '3' }) +
        row('s', '/run/agent.sock') +
        row('f', '/root/with\ttab', { size: 5, ctime: '1796612958.7814845850', uid: 1000 }) +
        row('l', '/bin', { mode: '777' }),
    )!
    expect([...files].map(([path, entry]) => `${entry.type} ${path}`)).toEqual(['m /etc/hosts', 'm /proc', 'f /root/with\ttab', 'l /bin'])
    expect(files.get('/root/with\ttab')).toEqual({ type: 'f', mode: 0o644, uid: 1000, gid: 0, size: 5, version: '1796612958.7814845850' })
  })

  it('gives up on what is not GNU find -printf output, or a name that is not UTF-8', () => {
    expect(parseFind('%y\t%m\0')).toBeUndefined()
    expect(parseFind(row('f', '/a'))).toBeUndefined() // no root entry: its device is unknown
    expect(parseFind(row('d', '/') + row('f', '/caf\uFFFD'))).toBeUndefined()
    expect(parseFind(row('d', '/') + row('f', '/a', { ctime: 'x' }))).toBeUndefined()
    expect(parseFind(row('d', '/') + row('f', 'relative'))).toBeUndefined()
  })
})

describe('planDelta', () => {
  const prior = list({
    '/a': entry('f', '10'),
    '/kept': entry('f', '10', { size: 7 }),
    '/dir': entry('d', '10'),
    '/dir/x': entry('f', '10'),
    '/dir/sub': entry('d', '10'),
    '/dir/sub/y': entry('f', '10'),
    '/swap': entry('d', '10'),
    '/swap/child': entry('f', '10'),
    '/cache': entry('d', '10'),
    '/cache/blob': entry('f', '10', { size: 99 }),
  })

  it('copies what is new, of another type or changed since; whiteouts only the topmost of what went', () => {
    const now = list({
      '/a': entry('f', '55', { size: 3 }), // changed after `since`
      '/kept': entry('f', '20', { size: 7 }), // changed before `since`: in the prior snapshot already
      '/new': entry('f', '60', { size: 11 }),
      '/swap': entry('f', '61', { size: 1 }), // a directory that became a file: its children go with it
      '/cache': entry('d', '10'),
      '/cache/blob': entry('f', '70', { size: 99 }),
    })
    const delta = planDelta(prior, now, 50)
    expect(delta.include).toEqual(['/a', '/new', '/swap', '/cache/blob'])
    expect(delta.includeBytes).toBe(3 + 11 + 1 + 99)
    expect(delta.remove).toEqual(['/dir'])
    // Unchanged paths keep the version of the list they were unchanged since.
    expect(delta.files.get('/kept')!.version).toBe('10')
    expect(delta.files.get('/a')!.version).toBe('55')
  })

  it('never copies a mount point, nor deletes one or what the snapshot below has under it', () => {
    const mounted = list({ '/data': entry('d', '10'), '/data/seed': entry('f', '10'), '/old-mount': entry('m', '10'), '/etc/hosts': entry('f', '10') })
    const now = list({ '/data': entry('m', '60'), '/etc/hosts': entry('m', '60') })
    const delta = planDelta(mounted, now, 50)
    expect([delta.include, delta.remove]).toEqual([[], []])
    expect(diffLists(mounted, now)).toEqual({ added: [], changed: [], deleted: [] })
    // Unmounted again, the directory's old entries are still there: nothing was deleted.
    expect(planDelta(now, mounted, 50).remove).toEqual([])
  })

  it('keeps excluded paths out, and deletes them from what the prior snapshot had', () => {
    const now = new Map(prior)
    now.set('/cache/blob', entry('f', '70', { size: 99 }))
    now.set('/cache/more', entry('f', '70', { size: 5 }))
    const delta = planDelta(prior, now, 50, excluder(['/cache']))
    expect(delta.include).toEqual([])
    expect(delta.remove).toEqual(['/cache'])
    expect(delta.files.has('/cache/blob')).toBe(false)
  })

  it('copies nothing and deletes nothing when nothing changed', () => {
    const delta = planDelta(prior, new Map(prior), 50)
    expect([delta.include, delta.remove, delta.includeBytes]).toEqual([[], [], 0])
  })
})

describe('diffLists', () => {
  const before = list({ '/a': entry('f', '1', { size: 1 }), '/d': entry('d', '1'), '/d/x': entry('f', '1', { size: 2 }), '/gone': entry('f', '1', { size: 4 }) })
  const after = list({ '/a': entry('f', '2', { size: 1 }), '/d': entry('d', '9'), '/d/x': entry('f', '1', { size: 2 }), '/d/y': entry('f', '3', { size: 8 }), '/dd': entry('f', '3') })

  it('names added, changed and deleted paths; a directory changes only by its own mode or owner', () => {
    expect(diffLists(before, after)).toEqual({
      added: [
        { path: '/d/y', type: 'f', size: 8 },
        { path: '/dd', type: 'f', size: 0 },
      ],
      changed: [{ path: '/a', type: 'f', size: 1 }],
      deleted: [{ path: '/gone', type: 'f', size: 4 }],
    })
    const chmod = new Map(after).set('/d', entry('d', '9', { mode: 0o700 }))
    expect(diffLists(before, chmod).changed.map((change) => change.path)).toEqual(['/a', '/d'])
  })

  it('narrows to a path prefix (a whole name, not a string prefix)', () => {
    expect(diffLists(before, after, '/d')).toEqual({ added: [{ path: '/d/y', type: 'f', size: 8 }], changed: [], deleted: [] })
    expect(diffLists(before, after, '/d/')).toEqual(diffLists(before, after, '/d'))
  })
})

describe('excluder', () => {
  it('matches a path and everything under it; * stays within a name, ** does not', () => {
    const excluded = excluder(['/root/.cache', '**/node_modules/.cache', '/home/*/.npm', 'tmp?.log'])
    for (const path of ['/root/.cache', '/root/.cache/pip/x', '/node_modules/.cache', '/app/a/node_modules/.cache/babel', '/home/node/.npm/_cacache', '/var/tmp1.log']) expect(excluded(path), path).toBe(true)
    for (const path of ['/root/.cachex', '/root', '/app/node_modules/cache', '/home/a/b/.npm', '/var/tmp12.log']) expect(excluded(path), path).toBe(false)
    expect(excluder([])('/anything')).toBe(false)
    expect(excluder(['/a.b'])('/aXb')).toBe(false)
  })
})
