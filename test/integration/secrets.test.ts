// Credentials in a bottle's environment: their values reach neither the snapshot (config, history,
// the legacy container config of engines < 25) nor a bundle; resume supplies them again by name.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BASE_IMAGE, Sandbox, docker } from '../helpers.ts'

let sandbox: Sandbox
/** Compose projects a test brought up: taken down (sidecars too) afterwards. */
const projects: string[] = []
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  for (const project of projects.splice(0)) await execa('docker', ['compose', '-p', project, 'down', '--remove-orphans'], { reject: false })
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

/**
 * Every byte a bundle file holds, unpacked where it can be read: the bundle's members, the snapshot
 * archive's files, and each gzip-compressed one (engine 29 saves gzipped layers) decompressed beside
 * it. Returns the directory to search.
 */
async function unpackedBundle(bundle: string): Promise<string> {
  const dir = join(sandbox.home, 'unpacked')
  const script = [
    'set -e',
    'mkdir -p "$2/members" "$2/snapshot"',
    'tar -xf "$1" -C "$2/members"',
    'for archive in "$2"/members/snapshot*.tar; do tar -xf "$archive" -C "$2/snapshot"; done',
    'find "$2" -type f | while read -r file; do if gzip -t "$file" 2>/dev/null; then gzip -dc "$file" > "$file.unzipped"; fi; done',
  ].join('\n')
  await execa('sh', ['-c', script, 'sh', bundle, dir])
  return dir
}

/** How often each needle occurs in the files under `dir` (grep -r: every file, byte for byte). */
async function occurrencesUnder(needles: string[], dir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const needle of needles) counts.set(needle, Number((await execa('sh', ['-c', 'grep -r -a -o -F -- "$1" "$2" | wc -l', 'sh', needle, dir])).stdout.trim()))
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
    // Resume says which values it handed in, by name only.
    expect(resumed.stderr).toContain("handed in from this host's environment: GITHUB_TOKEN")
    expect(`${resumed.stdout}${resumed.stderr}`).not.toContain(`fresh-${mark}`)
    const running = await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo "$GITHUB_TOKEN|$OPENAI_API_KEY|$PLAIN_SETTING"')
    expect(running).toBe(`fresh-${mark}||plain-${mark}`)
  })

  it("keeps a compose project's file as written: no value of ${VAR} or of an env_file in the state dir, the snapshot or the bundle", async () => {
    const slug = sandbox.slug('sec')
    const project = `bot-bottle-${slug}`
    projects.push(project)
    const mark = Math.random().toString(36).slice(2, 10)
    const secrets = { interpolated: `interp-${mark}-pw`, agentEnvFile: `envfile-${mark}-token`, sidecarEnvFile: `sidecar-${mark}-secret` }
    const control = `plain-${mark}`
    // The project's own directory, outside the state dir: commit has to keep its file itself.
    const projectDir = join(sandbox.home, 'project')
    mkdirSync(projectDir)
    writeFileSync(join(projectDir, 'agent.env'), `API_TOKEN=${secrets.agentEnvFile}\n`)
    writeFileSync(join(projectDir, 'sidecar.env'), `PROXY_SECRET=${secrets.sidecarEnvFile}\n`)
    const composeText = [
      '# As the user wrote it: this comment, the ${VAR} and the env_file paths must survive the commit.',
      'services:',
      '  agent:',
      `    image: ${BASE_IMAGE}`,
      `    container_name: bot-bottle-${slug}`,
      '    command: ["sh", "-c", "trap \'exit 0\' TERM; sleep infinity & wait"]',
      '    env_file: ./agent.env',
      '    environment:',
      '      DB_PASSWORD: ${DB_PASSWORD}',
      `      PLAIN_SETTING: ${control}`,
      '  sidecar:',
      `    image: ${BASE_IMAGE}`,
      '    command: ["sh", "-c", "trap \'exit 0\' TERM; sleep infinity & wait"]',
      '    env_file: ./sidecar.env',
      '',
    ].join('\n')
    const composeFile = join(projectDir, 'compose.yaml')
    writeFileSync(composeFile, composeText)
    mkdirSync(join(sandbox.home, 'state', slug), { recursive: true })
    writeFileSync(join(sandbox.home, 'state', slug, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'sec', compose_project: project, backend: 'docker' }))
    await execa('docker', ['compose', '-p', project, '-f', composeFile, 'up', '--detach', '--quiet-pull'], { env: { DB_PASSWORD: secrets.interpolated } })
    // The values did reach the running bottle (else finding none proves nothing).
    expect(await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo "$DB_PASSWORD|$API_TOKEN"')).toBe(`${secrets.interpolated}|${secrets.agentEnvFile}`)

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(readFileSync(join(sandbox.home, 'state', slug, 'docker-compose.yml'), 'utf8')).toBe(composeText)
    const needles = [control, ...Object.values(secrets)]
    const expected = new Map(needles.map((needle) => [needle, needle === control ? expect.any(Number) : 0]))
    const inState = await occurrencesUnder(needles, join(sandbox.home, 'state', slug))
    expect(inState).toEqual(expected)
    expect(inState.get(control), 'the control value is in the kept compose file').toBeGreaterThan(0)
    const inImage = await occurrences(needles, { command: ['docker', 'image', 'inspect', `bot-bottle-committed-${slug}:latest`] })
    expect(inImage).toEqual(expected)
    expect(inImage.get(control)).toBeGreaterThan(0)

    const bundle = join(sandbox.home, 'compose-sec.bottle')
    const exported = await sandbox.task('export', [slug, '--output', bundle, '--compress', 'none'])
    expect(exported.exitCode, exported.stderr).toBe(0)
    const inBundle = await occurrences(needles, { file: bundle })
    expect(inBundle).toEqual(expected)
    expect(inBundle.get(control)).toBeGreaterThan(0)
    const unpacked = await occurrencesUnder(needles, await unpackedBundle(bundle))
    expect(unpacked).toEqual(expected)
    expect(unpacked.get(control)).toBeGreaterThan(0)
  })

  it('refuses to commit a compose project brought up from several files, keeping nothing', async () => {
    const slug = sandbox.slug('sec')
    const project = `bot-bottle-${slug}`
    projects.push(project)
    const projectDir = join(sandbox.home, 'project')
    mkdirSync(projectDir)
    const base = join(projectDir, 'compose.yaml')
    const override = join(projectDir, 'compose.override.yaml')
    writeFileSync(base, ['services:', '  agent:', `    image: ${BASE_IMAGE}`, `    container_name: bot-bottle-${slug}`, '    command: ["sleep", "infinity"]', ''].join('\n'))
    writeFileSync(override, ['services:', '  agent:', '    environment:', '      MODE: ${MODE}', ''].join('\n'))
    mkdirSync(join(sandbox.home, 'state', slug), { recursive: true })
    writeFileSync(join(sandbox.home, 'state', slug, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'sec', compose_project: project, backend: 'docker' }))
    await execa('docker', ['compose', '-p', project, '-f', base, '-f', override, 'up', '--detach', '--quiet-pull'], { env: { MODE: 'strict' } })

    const refused = await sandbox.task('commit', [slug])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(/ran from 2 files .*write the merged file yourself, without values/)
    expect(await docker('image', 'ls', '-q', `bot-bottle-committed-${slug}`)).toBe('')
    expect(() => readFileSync(join(sandbox.home, 'state', slug, 'docker-compose.yml'))).toThrow()
  })
})
