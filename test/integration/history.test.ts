// Snapshots as a history, pruning, and forks (docker backend; the other backends fork in backends.test.ts).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Sandbox, docker, dockerOk, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  for (const slug of sandbox.tracked()) await docker('image', 'ls', '-q', `bot-bottle-committed-${slug}`).then((ids) => ids && docker('image', 'rm', '-f', ...new Set(ids.split('\n'))).catch(() => ''))
  await sandbox.dispose()
})

const inBottle = (slug: string, script: string) => docker('exec', `bot-bottle-${slug}`, 'sh', '-c', script)
const history = (slug: string) => JSON.parse(readFileSync(join(sandbox.home, 'state', slug, 'snapshots.json'), 'utf8')).snapshots

describe('snapshot history', () => {
  it('numbers every commit, lists them, boots an earlier one, and prunes old ones but never the current', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'head -c 2097152 /dev/urandom > /root/blob; echo one > /root/version')
    expect((await sandbox.task('commit', [slug, '--message', 'first'])).exitCode).toBe(0)
    await inBottle(slug, 'echo two > /root/version')
    const second = await sandbox.task('commit', [slug, '-m', 'second', '--json'])
    expect(second.exitCode, second.stderr).toBe(0)
    expect(JSON.parse(second.stdout)).toMatchObject({ n: 2, ref: `bot-bottle-committed-${slug}:2`, snapshot: `bot-bottle-committed-${slug}:latest` })
    await inBottle(slug, 'echo three > /root/version')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

    expect(history(slug).map((entry: { n: number; message?: string }) => [entry.n, entry.message])).toEqual([[1, 'first'], [2, 'second'], [3, undefined]])
    for (const n of [1, 2, 3]) expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:${n}`)).toBe(true)
    const listed = await sandbox.task('list', [slug])
    expect(listed.exitCode).toBe(0)
    expect(listed.stdout).toMatch(/^N\s+CREATED\s+SIZE\s+OWN\s+SNAPSHOT\s+MESSAGE/)
    // Each commit of the running bottle holds its whole diff over the image again (2 MiB of it random): its own size says so
    // (about twice that on the containerd image store, which keeps a layer both compressed and unpacked).
    const sizes = history(slug).map((entry: { sizeBytes: number; ownBytes: number }) => entry)
    for (const entry of sizes) expect(entry.ownBytes).toBeGreaterThanOrEqual(2 * 1024 * 1024)
    for (const entry of sizes) expect(entry.ownBytes).toBeLessThan(5 * 1024 * 1024)
    for (const entry of sizes) expect(entry.sizeBytes).toBeGreaterThan(entry.ownBytes + 10 * 1024 * 1024)
    expect(listed.stdout).toMatch(/The history holds \d+\.\d MiB of its own\.$/m)
    const bottles = JSON.parse((await sandbox.task('list', ['--json'])).stdout)
    expect(bottles.find((row: { slug: string }) => row.slug === slug).historyBytes).toBe(sizes.reduce((sum: number, entry: { ownBytes: number }) => sum + entry.ownBytes, 0))
    expect(listed.stdout).toMatch(new RegExp(`^1\\s.*bot-bottle-committed-${slug}:1\\s+first$`, 'm'))
    expect(listed.stdout).toMatch(/^3\*/m)
    expect(JSON.parse((await sandbox.task('list', [slug, '--json'])).stdout)).toMatchObject({ slug, current: `bot-bottle-committed-${slug}:latest` })

    const running = await sandbox.task('resume', [slug, '--snapshot', '1'])
    expect(running.exitCode).toBe(2)
    expect(expectOneLineError(running)).toContain('remove it first')
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const missing = await sandbox.task('resume', [slug, '--snapshot', '9'])
    expect(missing.exitCode).toBe(2)
    expect(expectOneLineError(missing)).toContain(`bottle "${slug}" has no snapshot 9; it has 1, 2, 3`)
    const earlier = await sandbox.task('resume', [slug, '--snapshot', '1'])
    expect(earlier.exitCode, earlier.stderr).toBe(0)
    expect(await inBottle(slug, 'cat /root/version')).toBe('one')

    const firstImage = await docker('image', 'inspect', '--format', '{{.Id}}', `bot-bottle-committed-${slug}:1`)
    const byPolicy = await sandbox.task('prune', [slug, '--keep-last', '2', '--keep-daily', '1', '--dry-run', '--json'])
    expect(JSON.parse(byPolicy.stdout).removed.map((entry: { n: number }) => entry.n)).toEqual([1])
    const dry = await sandbox.task('prune', [slug, '--keep', '1', '--dry-run', '--json'])
    expect(JSON.parse(dry.stdout).removed.map((entry: { n: number }) => entry.n)).toEqual([1, 2])
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:1`)).toBe(true)
    const pruned = await sandbox.task('prune', [slug, '--keep', '1'])
    expect(pruned.exitCode, pruned.stderr).toBe(0)
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:1`)).toBe(false)
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:2`)).toBe(false)
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:latest`)).toBe(true)
    expect(history(slug).map((entry: { n: number }) => entry.n)).toEqual([3])
    // The bottle still runs from snapshot 1's image: untagging never removes an image in use.
    expect(await inBottle(slug, 'cat /root/version')).toBe('one')

    for (const keep of ['0', 'x', '-1']) expect((await sandbox.task('prune', [slug, '--keep', keep])).exitCode).toBe(2)
    for (const args of [[], ['--keep-hourly', '0'], ['--keep', '1', '--keep-last', '1']]) {
      const refused = await sandbox.task('prune', [slug, ...args])
      expect(refused.exitCode).toBe(2)
      expect(expectOneLineError(refused)).toMatch(/keep/)
    }
    expect(history(slug).map((entry: { n: number }) => entry.n)).toEqual([3])
    // Removing the bottle's container frees that image, nameless since the prune: it goes too.
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    expect(await dockerOk('image', 'inspect', firstImage)).toBe(false)
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:latest`)).toBe(true)
  })

  it('exports a chosen snapshot of the history', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'echo one > /root/version')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    await inBottle(slug, 'echo two > /root/version')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const bundle = join(sandbox.home, 'one.bottle')
    expect((await sandbox.task('export', [slug, '--snapshot', '1', '--output', bundle])).exitCode).toBe(0)
    const copy = sandbox.slug('copy')
    expect((await sandbox.task('import', [bundle, '--as', copy])).exitCode).toBe(0)
    expect(history(copy)).toHaveLength(1)
    expect((await sandbox.task('resume', [copy])).exitCode).toBe(0)
    expect(await inBottle(copy, 'cat /root/version')).toBe('one')
  })
})

describe('fork', () => {
  it('starts a new running bottle from the snapshot of another, with its own state and history', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'head -c 1048576 /dev/urandom > /root/blob; echo shared > /root/origin')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const fork = sandbox.slug('fork')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode, forked.stderr).toBe(0)
    expect(forked.stdout.trim()).toBe(fork)
    expect(await inBottle(fork, 'cat /root/origin; stat -c %a /tmp')).toBe('shared\n1777')
    expect(JSON.parse(readFileSync(join(sandbox.home, 'state', fork, 'metadata.json'), 'utf8')).identity).toBe(fork)
    expect(readFileSync(join(sandbox.home, 'state', fork, 'committed-image'), 'utf8').trim()).toBe(`bot-bottle-committed-${fork}:latest`)
    expect(history(fork)).toHaveLength(1)
    // The fork's snapshot is its source's image: it adds nothing of its own.
    expect(history(fork)[0].ownBytes).toBe(0)

    // Branches diverge: work in the fork does not reach the original.
    await inBottle(fork, 'echo only-in-fork > /root/branch')
    expect((await sandbox.task('commit', [fork])).exitCode).toBe(0)
    // The fork runs from that snapshot: its commit builds on it and adds only what changed since.
    expect(history(fork)[1]).toMatchObject({ n: 2, ownBytes: expect.any(Number) })
    expect(history(fork)[1].ownBytes).toBeLessThan(64 * 1024)
    expect(await inBottle(slug, 'test -e /root/branch && echo yes || echo no')).toBe('no')
    expect(history(slug)).toHaveLength(1)

    const again = await sandbox.task('fork', [slug, '--as', fork])
    expect(again.exitCode).toBe(2)
    expect(expectOneLineError(again)).toContain(`bottle "${fork}" already exists`)
    const bad = await sandbox.task('fork', [slug, '--as', '../evil'])
    expect(bad.exitCode).toBe(2)
    expect(existsSync(join(sandbox.home, 'state', '..', 'evil'))).toBe(false)
  })

  it('says to commit first when the bottle has no snapshot', async () => {
    const slug = await sandbox.start()
    const result = await sandbox.task('fork', [slug, '--as', sandbox.slug('fork')])
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toContain('commit it first')
  })
})
