// Compact history (docker): after the first snapshot, a commit adds only what changed since the one
// before (files added, changed, deleted as whiteouts) and every snapshot, booted alone, holds exactly
// the files the bottle had when it was committed: compared over the whole file system (type, mode,
// owner, size, link target, hard links, sha256 of every regular file), not a few files.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Sandbox, docker, dockerOk, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
beforeAll(() => {
  sandbox = new Sandbox()
})
afterAll(async () => {
  await sandbox.dispose()
})

// Every commit in this file may build on the last snapshot, however little changed.
const COMPACT = { BOTTLE_TASKS_COMPACT_MIB: '0' }
const inBottle = (slug: string, script: string) => docker('exec', `bot-bottle-${slug}`, 'sh', '-c', script)
const history = (slug: string) => JSON.parse(readFileSync(join(sandbox.home, 'state', slug, 'snapshots.json'), 'utf8')).snapshots as Array<{ n: number; ref: string; ownBytes?: number; image?: string }>
const layersOf = async (ref: string) => JSON.parse(await docker('image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref)) as string[]

/**
 * The whole file system of a container, one line a path: what find says of it (directories without
 * size and link count, which the layering changes) and the sha256 of each regular file. Mount points
 * (volumes, /proc, /etc/hosts, …) are not the container's own and are left out, as they are of a commit.
 */
async function fingerprint(container: string): Promise<string[]> {
  const listed = await execa('docker', ['exec', container, 'find', '/', '-xdev', '-printf', '%D\\t%y\\t%m\\t%U\\t%G\\t%s\\t%n\\t%l\\t%p\\0'])
  const rows = listed.stdout.split('\0').filter(Boolean).map((row) => row.split('\t'))
  const root = rows.find((row) => row[8] === '/')![0]
  const own = rows.filter((row) => row[0] === root && row[8] !== '/')
  const files = own.filter((row) => row[1] === 'f').map((row) => row[8]!)
  const sums = await execa('docker', ['exec', '--interactive', container, 'xargs', '-0', 'sha256sum'], { input: files.join('\0') })
  const hashOf = new Map(sums.stdout.split('\n').filter(Boolean).map((line) => [line.slice(66), line.slice(0, 64)]))
  return own
    .map(([, type, mode, uid, gid, size, links, target, path]) => (type === 'd' ? `${path} d ${mode} ${uid}:${gid}` : `${path} ${type} ${mode} ${uid}:${gid} ${size} ${links} ${target} ${hashOf.get(path!) ?? ''}`))
    .sort()
}

/** The file system of a snapshot booted alone (a plain container of its image, not the bottle). */
async function fingerprintOf(ref: string): Promise<string[]> {
  const name = `compact-check-${Math.random().toString(36).slice(2, 8)}`
  sandbox.trackContainer(name)
  await docker('run', '-d', '--name', name, '--entrypoint', 'sleep', ref, 'infinity')
  try {
    return await fingerprint(name)
  } finally {
    await docker('rm', '-f', name)
  }
}

/** A file capability (cap_net_raw+ep) on /root/ping-like, put there through a tar (the image has no setcap). */
async function withCapability(slug: string): Promise<void> {
  const { pack } = await import('tar-stream')
  const archive = pack()
  const capability = Buffer.alloc(20)
  capability.writeUInt32LE(0x02000001, 0) // VFS_CAP_REVISION_2 | effective
  capability.writeUInt32LE(1 << 13, 4) // permitted: CAP_NET_RAW
  archive.entry({ name: 'ping-like', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': capability.toString('latin1') } }, '#!/bin/sh\n')
  archive.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of archive) chunks.push(chunk as Buffer)
  await execa('docker', ['cp', '-', `bot-bottle-${slug}:/root/`], { input: Buffer.concat(chunks) })
}

/** Whether /root/ping-like carries that capability in a container (read back through docker cp's tar). */
async function hasCapability(container: string): Promise<boolean> {
  const { extract } = await import('tar-stream')
  const out = await execa('docker', ['cp', `${container}:/root/ping-like`, '-'], { encoding: 'buffer' })
  const reader = extract()
  let found = false
  reader.on('entry', (header, stream, next) => {
    found ||= Boolean((header.pax as Record<string, string> | undefined)?.['SCHILY.xattr.security.capability'])
    stream.resume()
    stream.on('end', next)
  })
  reader.end(out.stdout)
  await new Promise<void>((resolve) => reader.on('finish', () => resolve()))
  return found
}

describe('compact history', () => {
  const want = new Map<number, string[]>()
  let slug: string

  it('adds only what changed, and every snapshot booted alone has exactly the files it had', async () => {
    slug = await sandbox.start()
    await inBottle(
      slug,
      [
        'mkdir -p /data/keep /data/gone/deep /data/dir2file /data/tree/a/b',
        'head -c 1048576 /dev/urandom > /data/big',
        'echo one > /data/keep/file; echo two > /data/gone/deep/x; echo three > /data/dir2file/inner',
        'echo four > /data/file2dir; echo five > /data/tree/a/b/c; echo same > /data/same; echo small > /data/small',
        'ln -s keep/file /data/link; chown 1000:1000 /data/keep/file; chmod 640 /data/keep/file; echo w > /data/window',
      ].join('; '),
    )
    await withCapability(slug)
    const first = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(first.exitCode, first.stderr).toBe(0)
    // The first snapshot of the bottle has nothing to build on: a whole docker commit.
    expect(first.stdout + first.stderr).toContain('(docker commit)')
    want.set(1, await fingerprint(`bot-bottle-${slug}`))
    // A docker commit's list is taken just before it: a file made in between is in the snapshot and
    // not in the list (simulated: dropped from the list). Deleted later, it must not come back.
    const listFile = join(sandbox.home, 'state', slug, 'files', '1.json.gz')
    const listed = gunzipSync(readFileSync(listFile)).toString()
    const withoutWindow = listed.replace(/[^\0\n]*\t\/data\/window\0/, '')
    expect(withoutWindow.length).toBeLessThan(listed.length)
    writeFileSync(listFile, gzipSync(withoutWindow))

    await inBottle(
      slug,
      [
        'echo changed > /data/keep/file', // content, same owner and mode
        'rm -r /data/gone', // a tree deleted
        'rm -r /data/dir2file; echo now-a-file > /data/dir2file', // a directory replaced by a file
        'rm /data/file2dir; mkdir /data/file2dir; echo inside > /data/file2dir/x', // a file replaced by a directory
        'ln /data/small /data/small-link', // a hard link (a new name changes the file's link count: both names go in the layer)
        'ln -sf tree /data/link', // a symlink re-pointed
        'mv /data/tree /data/moved', // a renamed directory: its files keep their ctimes
        'chmod 600 /data/same; chown 1000:1000 /data/same', // metadata only
        'rm /etc/issue', // a file of the image deleted
        'rm /data/window',
        'echo added > /root/added',
      ].join('; '),
    )
    const second = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.stdout + second.stderr).toContain('on top of it')
    want.set(2, await fingerprint(`bot-bottle-${slug}`))

    // Content changed in place with the same size and the mtime set back: only the ctime tells.
    await inBottle(slug, "stamp=$(stat -c %Y /data/same); printf 'SAME\\n' > /data/same; touch -d @$stamp /data/same; rm -r /data/file2dir; mkdir /data/file2dir; echo other > /data/file2dir/y")
    const third = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(third.exitCode, third.stderr).toBe(0)
    want.set(3, await fingerprint(`bot-bottle-${slug}`))

    const [one, two, three] = history(slug)
    // Each later snapshot is the one before plus one layer of its own, and that layer is small
    // (the 1 MiB random file is in snapshot 1 only; the containerd store keeps a layer twice).
    expect(await layersOf(two!.ref)).toEqual([...(await layersOf(one!.ref)), expect.any(String)])
    expect(await layersOf(three!.ref)).toEqual([...(await layersOf(two!.ref)), expect.any(String)])
    expect(one!.ownBytes).toBeGreaterThan(1024 * 1024)
    for (const entry of [two!, three!]) expect(entry.ownBytes).toBeLessThan(256 * 1024)

    for (const [n, files] of want) expect(await fingerprintOf(`bot-bottle-committed-${slug}:${n}`), `snapshot ${n}`).toEqual(files)
    expect(await hasCapability(`bot-bottle-${slug}`)).toBe(true)
  })

  it('diff names what changed between two snapshots, both ways, and since the newest in the running bottle', async () => {
    // The known change set: what the whole-file-system fingerprints of snapshots 1 and 2 differ by.
    const byPath = (lines: string[]) => new Map(lines.map((line) => [line.slice(0, line.indexOf(' ')), line]))
    const [one, two] = [byPath(want.get(1)!), byPath(want.get(2)!)]
    const known = {
      added: [...two.keys()].filter((path) => !one.has(path)).sort(),
      changed: [...two.keys()].filter((path) => one.has(path) && one.get(path) !== two.get(path)).sort(),
      deleted: [...one.keys()].filter((path) => !two.has(path)).sort(),
    }
    expect(known.deleted).toContain('/etc/issue')
    const paths = (result: { stdout: string }, kind: 'added' | 'changed' | 'deleted') => (JSON.parse(result.stdout)[kind] as Array<{ path: string }>).map((change) => change.path)
    const forward = await sandbox.task('diff', [slug, '1', '2', '--json'])
    expect(forward.exitCode, forward.stderr).toBe(0)
    expect({ added: paths(forward, 'added'), changed: paths(forward, 'changed'), deleted: paths(forward, 'deleted') }).toEqual(known)
    const backward = await sandbox.task('diff', [slug, '2', '1', '--json'])
    expect({ added: paths(backward, 'added'), changed: paths(backward, 'changed'), deleted: paths(backward, 'deleted') }).toEqual({ added: known.deleted, changed: known.changed, deleted: known.added })
    expect(JSON.parse(forward.stdout).totals.added.bytes).toBeGreaterThan(0)

    const narrowed = await sandbox.task('diff', [slug, '1', '2', '--path', '/data/keep'])
    expect(narrowed.stdout.trim().split('\n')).toEqual([`${slug}: from snapshot 1 to snapshot 2 under /data/keep`, '~ /data/keep/file  8 B', '0 added (0 B), 1 changed (8 B), 0 deleted (0 B).'])

    const none = await sandbox.task('diff', [slug])
    expect(none.exitCode, none.stderr).toBe(0)
    expect(none.stdout).toContain('Nothing changed.')
    await inBottle(slug, 'echo zz > /data/z; rm /data/moved/a/b/c')
    const since = await sandbox.task('diff', [slug])
    expect(since.stdout.trim().split('\n').slice(1)).toEqual(['- /data/moved/a/b/c  5 B', '+ /data/z  3 B', '1 added (3 B), 0 changed (0 B), 1 deleted (5 B).'])
    await inBottle(slug, 'rm /data/z; echo five > /data/moved/a/b/c')

    for (const args of [['0'], ['1', 'x'], ['1', '2', '3'], ['1', '--path', 'data']]) {
      const refused = await sandbox.task('diff', [slug, ...args])
      expect(refused.exitCode, args.join(' ')).toBe(2)
      expectOneLineError(refused)
    }
    expect(expectOneLineError(await sandbox.task('diff', [slug, '9']))).toContain('has no snapshot 9')
  })

  it('keeps file capabilities (xattrs) a compact layer copies', async () => {
    await inBottle(slug, 'chmod 700 /root/ping-like')
    expect((await sandbox.task('commit', [slug], { env: COMPACT })).exitCode).toBe(0)
    want.set(4, await fingerprint(`bot-bottle-${slug}`))
    const check = `compact-cap-${Math.random().toString(36).slice(2, 8)}`
    sandbox.trackContainer(check)
    await docker('create', '--name', check, `bot-bottle-committed-${slug}:4`)
    expect(await hasCapability(check)).toBe(true)
    await docker('rm', '-f', check)
  })

  it('keeps every other snapshot whole when one is pruned, the middle one or the first', async () => {
    const middle = await sandbox.task('prune', [slug, '--snapshot', '2'])
    expect(middle.exitCode, middle.stderr).toBe(0)
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:2`)).toBe(false)
    const first = await sandbox.task('prune', [slug, '--snapshot', '1'])
    expect(first.exitCode, first.stderr).toBe(0)
    expect(history(slug).map((entry) => entry.n)).toEqual([3, 4])
    for (const n of [3, 4]) expect(await fingerprintOf(`bot-bottle-committed-${slug}:${n}`), `snapshot ${n}`).toEqual(want.get(n))
    const unknown = await sandbox.task('prune', [slug, '--snapshot', '2'])
    expect(unknown.exitCode).toBe(2)
    expect(expectOneLineError(unknown)).toContain('has no snapshot 2; it has 3, 4')
  })

  it('builds on the snapshot a resumed bottle came from (a docker commit of it holds only what changed since)', async () => {
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug, '--snapshot', '3'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(await fingerprint(`bot-bottle-${slug}`)).toEqual(want.get(3))
    await inBottle(slug, 'echo after-resume > /data/keep/file; rm /data/small-link')
    const commit = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(commit.exitCode, commit.stderr).toBe(0)
    const newest = history(slug).at(-1)!
    expect(newest.n).toBe(5)
    expect(await layersOf(newest.ref)).toEqual([...(await layersOf(`bot-bottle-committed-${slug}:3`)), expect.any(String)])
    expect(newest.ownBytes).toBeLessThan(256 * 1024)
    expect(await fingerprintOf(newest.ref)).toEqual(await fingerprint(`bot-bottle-${slug}`))
    // The next one, from the same container, builds on it.
    await inBottle(slug, 'echo again > /data/keep/file')
    const again = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(again.stdout + again.stderr).toContain('on top of it')
    expect(await fingerprintOf(history(slug).at(-1)!.ref)).toEqual(await fingerprint(`bot-bottle-${slug}`))
  })
})

/** Whether `marker` is anywhere in `data`: in it as is, in a gzip or zstd stream in it, or in a member of a tar in it (nested as deep as they go). */
async function holds(data: Buffer, marker: string): Promise<boolean> {
  if (data.includes(marker)) return true
  if (data[0] === 0x1f && data[1] === 0x8b) return holds(gunzipSync(data), marker)
  if (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528) return holds(Buffer.from((await execa('zstd', ['-dc'], { input: data, encoding: 'buffer' })).stdout), marker)
  if (data.length < 512 || data.toString('latin1', 257, 262) !== 'ustar') return false
  const { extract } = await import('tar-stream')
  const reader = extract()
  const members: Buffer[] = []
  reader.on('entry', (_header, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer))
    stream.on('end', () => {
      members.push(Buffer.concat(chunks))
      next()
    })
  })
  reader.end(data)
  await new Promise<void>((resolve) => reader.on('finish', () => resolve()))
  for (const member of members) if (await holds(member, marker)) return true
  return false
}

describe('compact history, deep', () => {
  it('flattens a snapshot that gets deep, and the next builds on the flattened one', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'mkdir -p /w; echo 1 > /w/a')
    expect((await sandbox.task('commit', [slug], { env: COMPACT })).exitCode).toBe(0)
    const depth = (await layersOf(`bot-bottle-committed-${slug}:1`)).length
    await inBottle(slug, 'echo 2 > /w/a; echo b > /w/b')
    const deep = await sandbox.task('commit', [slug], { env: { ...COMPACT, BOTTLE_TASKS_FLATTEN_LAYERS: String(depth + 1) } })
    expect(deep.exitCode, deep.stderr).toBe(0)
    expect(deep.stdout + deep.stderr).toContain('Flatten the snapshot')
    expect(await layersOf(`bot-bottle-committed-${slug}:2`)).toHaveLength(1)
    expect(await fingerprintOf(`bot-bottle-committed-${slug}:2`)).toEqual(await fingerprint(`bot-bottle-${slug}`))
    await inBottle(slug, 'rm /w/b; echo 3 > /w/a')
    const next = await sandbox.task('commit', [slug], { env: COMPACT })
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stdout + next.stderr).toContain('on top of it')
    expect(await layersOf(`bot-bottle-committed-${slug}:3`)).toEqual([...(await layersOf(`bot-bottle-committed-${slug}:2`)), expect.any(String)])
    expect(await fingerprintOf(`bot-bottle-committed-${slug}:3`)).toEqual(await fingerprint(`bot-bottle-${slug}`))
  })
})

describe('exclusions', () => {
  it('keeps excluded paths out of every snapshot, its layers and an exported bundle, from the first one on', async () => {
    const slug = await sandbox.start()
    const marker = `kept-out-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
    const control = `kept-in-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
    writeFileSync(join(sandbox.home, 'state', slug, 'exclude'), '# caches\n/root/.cache\n')
    await inBottle(slug, `mkdir -p /root/.cache/pip /app/node_modules/.cache /app/src; echo ${marker} > /root/.cache/pip/wheel; echo ${marker} > /app/node_modules/.cache/babel; echo ${control} > /app/src/main.js`)
    // Without COMPACT: the exclusions alone make even the first snapshot build on the image.
    const first = await sandbox.task('commit', [slug, '--exclude', '**/node_modules/.cache'])
    expect(first.exitCode, first.stderr).toBe(0)
    const expected = (await fingerprint(`bot-bottle-${slug}`)).filter((line) => !/^\/root\/\.cache|^\/app\/node_modules\/\.cache/.test(line))
    expect(await fingerprintOf(`bot-bottle-committed-${slug}:1`)).toEqual(expected)

    await inBottle(slug, `echo ${marker} >> /root/.cache/pip/wheel; echo more > /app/src/more.js`)
    const diff = await sandbox.task('diff', [slug])
    expect(diff.exitCode, diff.stderr).toBe(0)
    expect(diff.stdout).toContain('+ /app/src/more.js')
    // commit --exclude went into the state dir's list: kept out from then on, and diff says so.
    expect(readFileSync(join(sandbox.home, 'state', slug, 'exclude'), 'utf8')).toContain('**/node_modules/.cache')
    expect(diff.stdout).not.toMatch(/\/root\/\.cache|node_modules\/\.cache/)
    expect(diff.stdout).toMatch(/Kept out by exclusions: 5 path\(s\)/)
    const second = await sandbox.task('commit', [slug])
    expect(second.exitCode, second.stderr).toBe(0)
    expect((await sandbox.task('list', [slug])).stdout).toMatch(/^Exclusions \(the state dir's exclude file\) kept \d+ B out of snapshot 2\.$/m)
    const check = `compact-excl-${Math.random().toString(36).slice(2, 8)}`
    sandbox.trackContainer(check)
    await docker('run', '-d', '--name', check, '--entrypoint', 'sleep', `bot-bottle-committed-${slug}:2`, 'infinity')
    expect(await execa('docker', ['exec', check, 'ls', '/root/.cache'], { reject: false }).then((result) => result.exitCode)).not.toBe(0)
    expect(await docker('exec', check, 'cat', '/app/src/more.js')).toBe('more')
    await docker('rm', '-f', check)

    const saved = Buffer.from((await execa('docker', ['save', `bot-bottle-committed-${slug}:2`], { encoding: 'buffer', maxBuffer: 2 ** 30 })).stdout)
    expect(await holds(saved, control)).toBe(true) // the check can see what a layer holds
    expect(await holds(saved, marker)).toBe(false)
    const bundle = join(sandbox.home, 'out.bottle')
    const exported = await sandbox.task('export', [slug, '--output', bundle, '--compress', 'gzip'])
    expect(exported.exitCode, exported.stderr).toBe(0)
    const bytes = readFileSync(bundle)
    expect(await holds(bytes, control)).toBe(true)
    expect(await holds(bytes, marker)).toBe(false)
  })
})
