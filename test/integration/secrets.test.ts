// Credentials in a bottle's environment: their values reach neither the snapshot (config, history,
// the legacy container config of engines < 25) nor a bundle; resume supplies them again by name.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BASE_IMAGE, Sandbox, docker } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  for (const slug of sandbox.tracked()) {
    const ids = await docker('image', 'ls', '-q', `bot-bottle-committed-${slug}`)
    if (ids) await execa('docker', ['image', 'rm', '-f', ...new Set(ids.split('\n'))], { reject: false })
  }
  await sandbox.dispose()
})

/**
 * How often each needle occurs in the same bytes: a file, or the output of a command saved to one
 * (a command that fails throws). Searching for a known non-secret value in those bytes too (a
 * positive control) tells an empty or failed save from a clean one.
 */
async function occurrences(needles: string[], source: { file: string } | { command: string[] }): Promise<Map<string, number>> {
  let file = 'file' in source ? source.file : join(sandbox.home, 'searched.bytes')
  if ('command' in source) await execa('sh', ['-c', `"$@" > ${JSON.stringify(file)}`, 'sh', ...source.command])
  const counts = new Map<string, number>()
  for (const needle of needles) counts.set(needle, Number((await execa('sh', ['-c', 'grep -a -o -F -- "$1" "$2" | wc -l', 'sh', needle, file])).stdout.trim()))
  return counts
}

describe('credentials', () => {
  it('keeps credential values out of the committed image and the bundle, keeps other env, and supplies them again on resume', async () => {
    const slug = sandbox.slug('sec')
    const mark = Math.random().toString(36).slice(2, 10)
    const secrets = { GITHUB_TOKEN: `ghp-${mark}-token`, OPENAI_API_KEY: `sk-${mark}-key`, AUTH_HEADER: `bearer-${mark}-auth`, DB_PASSWORD: `pw-${mark}`, TEAM_CODE: `listed-${mark}` }
    // A bottle the bot-bottle way: its state lists one more name to keep out (TEAM_CODE).
    mkdirSync(join(sandbox.home, 'state', slug), { recursive: true })
    writeFileSync(join(sandbox.home, 'state', slug, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'sec', backend: 'docker', secret_env: ['TEAM_CODE'] }))
    const envFlags = Object.entries({ ...secrets, PLAIN_SETTING: `plain-${mark}` }).flatMap(([key, value]) => ['-e', `${key}=${value}`])
    await docker('run', '-dit', '--name', `bot-bottle-${slug}`, ...envFlags, BASE_IMAGE)

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    const snapshot = `bot-bottle-committed-${slug}:latest`
    const control = `plain-${mark}`
    const needles = [control, ...Object.values(secrets)]
    const expected = new Map(needles.map((needle) => [needle, needle === control ? expect.any(Number) : 0]))
    for (const command of [['docker', 'save', snapshot], ['docker', 'image', 'inspect', snapshot]]) {
      const found = await occurrences(needles, { command })
      expect(found, command.join(' ')).toEqual(expected)
      expect(found.get(control), `${command.join(' ')}: the control value is in its bytes`).toBeGreaterThan(0)
    }
    // History: the secrets are in no step of it (its commit steps carry no env, so no control here).
    const history = await occurrences(Object.values(secrets), { command: ['docker', 'history', '--no-trunc', snapshot] })
    expect([...history.values()]).toEqual(Object.values(secrets).map(() => 0))
    const env = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Env}}', snapshot)) as string[]
    expect(env).toContain(`PLAIN_SETTING=plain-${mark}`)
    expect(env).toEqual(expect.arrayContaining(['GITHUB_TOKEN=', 'TEAM_CODE=']))

    const bundle = join(sandbox.home, 'sec.bottle')
    expect((await sandbox.task('export', [slug, '--output', bundle, '--compress', 'none'])).exitCode).toBe(0)
    const inBundle = await occurrences(needles, { file: bundle })
    expect(inBundle).toEqual(expected)
    expect(inBundle.get(control)).toBeGreaterThan(0)

    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug], { env: { GITHUB_TOKEN: `fresh-${mark}` } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/not in this environment, so not supplied: .*OPENAI_API_KEY/)
    const running = await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo "$GITHUB_TOKEN|$OPENAI_API_KEY|$PLAIN_SETTING"')
    expect(running).toBe(`fresh-${mark}||plain-${mark}`)
  })
})
