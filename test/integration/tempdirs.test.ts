// Every way a bottle comes back gives it /tmp and /var/tmp with mode 1777, whatever its snapshot or
// its stopped container holds (agents break on a missing or private /tmp).
import { afterEach, beforeEach, expect, it } from 'vitest'
import { Sandbox, docker } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

const tempModes = (slug: string) => docker('exec', `bot-bottle-${slug}`, 'stat', '-c', '%a %U', '/tmp', '/var/tmp')

it('re-initialises /tmp and /var/tmp when booting a snapshot that lacks them, and when restarting a stopped bottle', async () => {
  const slug = await sandbox.start()
  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'chmod 0700 /tmp && rm -rf /var/tmp')
  expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
  expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
  const resumed = await sandbox.task('resume', [slug])
  expect(resumed.exitCode, resumed.stderr).toBe(0)
  expect(await tempModes(slug)).toBe('1777 root\n1777 root')

  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'chmod 0700 /tmp /var/tmp')
  await docker('stop', '--time', '1', `bot-bottle-${slug}`)
  const restarted = await sandbox.task('resume', [slug, '--json'])
  expect(restarted.exitCode, restarted.stderr).toBe(0)
  expect(JSON.parse(restarted.stdout)).toMatchObject({ how: 'restarted' })
  expect(await tempModes(slug)).toBe('1777 root\n1777 root')
})
