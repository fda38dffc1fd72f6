// A bottle from elsewhere is untrusted (issue 20): import shows what it asks for above a default
// sandbox and refuses what was not allowed, before anything is loaded; it applies no name but its
// own; a signature from an allowed signer makes it trusted. Each refusal is proven harmless by what
// the host shows (its images, volumes, networks, containers, state and files), not by the message.
// Engine A → B (and, in the engine-29 lane, 29 → C).
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { BASE_IMAGE, Sandbox, engineObjects, expectOneLineError } from '../helpers.ts'

const agentImage = inject('agentImage')
const registry = inject('registry')
const onA = {}
const onB = { DOCKER_HOST: inject('engineB') }

const dockerOn = async (env: Record<string, string>, ...args: string[]) => (await execa('docker', args, { env })).stdout.trim()
const tryOn = async (env: Record<string, string>, ...args: string[]) => execa('docker', args, { env, reject: false })

let hostA: Sandbox
let hostB: Sandbox
let files: string
/** Volumes and networks a test made or had made, per engine: removed afterwards. */
const made: Array<{ kind: 'volume' | 'network'; name: string; env: Record<string, string> }> = []
beforeEach(() => {
  hostA = new Sandbox()
  hostB = new Sandbox(onB)
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-trust-'))
})
afterEach(async () => {
  await hostA.dispose()
  await hostB.dispose()
  for (const { kind, name, env } of made.splice(0).reverse()) await tryOn(env, kind, 'rm', '-f', name)
  rmSync(files, { recursive: true, force: true })
})

/** All an engine holds that an import could touch: containers, networks, volumes, and every image by id and name. */
async function hostView(env: Record<string, string>) {
  const images = (await dockerOn(env, 'image', 'ls', '-a', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}')).split('\n').sort()
  return { ...(await engineObjects(env)), images }
}

/** bot-bottle's way: a state dir and the container bot-bottle-<slug>, run with `flags`; committed. */
async function committedBottle(flags: string[], env: Record<string, string> = {}): Promise<string> {
  const slug = hostA.slug('tr')
  const state = join(hostA.home, 'state', slug)
  mkdirSync(state, { recursive: true })
  writeFileSync(join(state, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'tr', cwd: '/work', copy_cwd: false, started_at: new Date().toISOString(), compose_project: '', backend: 'docker' }))
  await dockerOn(onA, 'run', '--detach', '--name', `bot-bottle-${slug}`, ...flags, agentImage, 'sleep', 'infinity')
  const committed = await hostA.task('commit', [slug], { env })
  expect(committed.exitCode, committed.stderr).toBe(0)
  return slug
}

/** The bottle of the issue: the host's processes, /etc and engine socket, SYS_ADMIN, and a token from the host. */
const ESCAPING = ['--pid', 'host', '-v', '/etc:/hostetc', '-v', '/var/run/docker.sock:/var/run/docker.sock', '--cap-add', 'SYS_ADMIN', '-e', 'GITHUB_TOKEN=token-where-it-ran']
const ESCAPING_KEYS = ['bind:/etc', 'bind:/var/run/docker.sock', 'cap-add:SYS_ADMIN', 'env:GITHUB_TOKEN', 'pid:host'].sort()
const allowing = (keys: string[]) => keys.flatMap((key) => ['--allow', key])

async function exported(slug: string, flags: string[] = []): Promise<string> {
  const bundle = join(files, `${slug}-${Math.random().toString(36).slice(2, 6)}.bottle`)
  const result = await hostA.task('export', [slug, '--output', bundle, ...flags])
  expect(result.exitCode, result.stderr).toBe(0)
  return bundle
}

/** A refused import: the exit code, one line naming why (returned), and the host exactly as it was (no state dir either). */
async function expectRefused(args: string[], exitCode: number, says: string | RegExp, slug: string, env: Record<string, string> = {}): Promise<string> {
  const before = await hostView(onB)
  const result = await hostB.task('import', args, { env })
  expect(result.exitCode, result.stderr).toBe(exitCode)
  const line = expectOneLineError(result)
  expect(line).toMatch(says)
  expect(await hostView(onB)).toEqual(before)
  expect(existsSync(join(hostB.home, 'state', slug))).toBe(false)
  return line
}

/** The keys a refusal names as not allowed, sorted. */
const notAllowed = (line: string) => (/not allowed: (.*?) \(allow each/.exec(line)?.[1] ?? '').split(' ').sort()

describe('a bottle from elsewhere asks, and gets only what was allowed', () => {
  it('shows what it asks for, refuses it without allowances or with one missing, and resumes with exactly those privileges when allowed', async () => {
    const slug = await committedBottle(ESCAPING)
    hostB.track(slug)
    const bundle = await exported(slug)

    const before = await hostView(onB)
    const shown = await hostB.task('import', [bundle, '--show'])
    expect(shown.exitCode, shown.stderr).toBe(0)
    for (const key of ESCAPING_KEYS) expect(shown.stdout).toMatch(new RegExp(`^  ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}  `, 'm'))
    expect(shown.stdout).toContain('not signed')
    expect(await hostView(onB)).toEqual(before)
    expect(existsSync(join(hostB.home, 'state'))).toBe(false)

    expect(notAllowed(await expectRefused([bundle], 1, /not allowed: /, slug))).toEqual(ESCAPING_KEYS)
    expect(notAllowed(await expectRefused([bundle, ...allowing(ESCAPING_KEYS.filter((key) => key !== 'cap-add:SYS_ADMIN'))], 1, /not allowed: /, slug))).toEqual(['cap-add:SYS_ADMIN'])
    await expectRefused([bundle, ...allowing([...ESCAPING_KEYS, 'bind:/root'])], 2, /--allow bind:\/root: the bottle does not ask for this/, slug)

    const imported = await hostB.task('import', [bundle, ...allowing(ESCAPING_KEYS)])
    expect(imported.exitCode, imported.stderr).toBe(0)
    const listed = await hostB.task('list', [slug])
    expect(listed.stdout).toContain(`Allowed: ${[...ESCAPING_KEYS].sort().join(' ')}.`)
    expect(listed.stdout).toContain('Untrusted: held to a default sandbox and what you allowed.')
    const resumed = await hostB.task('resume', [slug], { env: { GITHUB_TOKEN: 'token-on-B' } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(resumed.stderr + resumed.stdout).toContain('GITHUB_TOKEN')
    const inspect = JSON.parse(await dockerOn(onB, 'container', 'inspect', `bot-bottle-${slug}`))[0]
    expect(inspect.HostConfig.PidMode).toBe('host')
    expect(inspect.HostConfig.CapAdd).toContain('CAP_SYS_ADMIN')
    expect(inspect.Mounts.map((mount: { Source: string }) => mount.Source).sort()).toEqual(['/etc', '/var/run/docker.sock'])
    expect(await dockerOn(onB, 'exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo "$GITHUB_TOKEN"')).toBe('token-on-B')
  })

  it('with --trust comes back as it ran; a fork of a held bottle keeps its allowances and nothing more', async () => {
    const slug = await committedBottle(ESCAPING)
    const bundle = await exported(slug)
    const trusted = hostB.track(`${slug}-t`)
    const imported = await hostB.task('import', [bundle, '--as', trusted, '--trust'])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect((await hostB.task('list', [trusted])).stdout).toContain('Trusted by you (--trust)')
    expect((await hostB.task('resume', [trusted])).exitCode).toBe(0)
    expect(JSON.parse(await dockerOn(onB, 'container', 'inspect', `bot-bottle-${trusted}`))[0].HostConfig.PidMode).toBe('host')

    // Held: allowed only the read of /etc. How it ran asks for more, so import refuses; a bottle
    // whose record says less than its snapshot's label (below) is held to its allowances at boot.
    const refused = await expectRefused([bundle, '--as', `${slug}-h`, '--allow', 'bind:/etc'], 1, /not allowed: /, `${slug}-h`)
    expect(notAllowed(refused)).toEqual(ESCAPING_KEYS.filter((key) => key !== 'bind:/etc'))
  })
})

/** Rewrite a bundle: its members extracted, changed by `edit`, packed again in order with the manifest's sizes and digests made to match. */
async function craft(bundle: string, edit: (dir: string, manifest: Record<string, any>) => Promise<void> | void, extraAfter: string[] = []): Promise<string> {
  const dir = mkdtempSync(join(files, 'craft-'))
  await execa('tar', ['-xf', bundle, '-C', dir])
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
  await edit(dir, manifest)
  const measure = (member: string) => ({ size: statSync(join(dir, member)).size, sha256: createHash('sha256').update(readFileSync(join(dir, member))).digest('hex') })
  Object.assign(manifest.payload, measure(manifest.payload.name))
  for (const volume of manifest.volumes?.carried ?? []) Object.assign(volume, measure(volume.member))
  for (const file of manifest.files ?? []) Object.assign(file, measure(file.member))
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const order = [manifest.payload.name, ...(manifest.volumes?.carried ?? []).map((volume: { member: string }) => volume.member), ...(manifest.files ?? []).map((file: { member: string }) => file.member), 'manifest.json', ...extraAfter]
  const out = join(files, `crafted-${Math.random().toString(36).slice(2, 8)}.bottle`)
  await execa('tar', ['--format=ustar', '-cf', out, '-C', dir, ...order])
  return out
}

/** The docker-save payload of an uncompressed bundle, its image named `name` every way docker load reads names. */
async function nameThePayload(dir: string, payload: string, name: string): Promise<void> {
  const unpacked = mkdtempSync(join(files, 'payload-'))
  const members = (await execa('tar', ['-tf', join(dir, payload)])).stdout.split('\n').filter(Boolean)
  await execa('tar', ['-xf', join(dir, payload), '-C', unpacked])
  const manifestFile = join(unpacked, 'manifest.json')
  const [image] = JSON.parse(readFileSync(manifestFile, 'utf8'))
  image.RepoTags = [name]
  writeFileSync(manifestFile, JSON.stringify([image]))
  const [repository, tag] = name.split(':')
  writeFileSync(join(unpacked, 'repositories'), JSON.stringify({ [repository!]: { [tag!]: image.Config.replace(/^blobs\/sha256\/|\.json$/g, '') } }))
  const indexFile = join(unpacked, 'index.json')
  if (existsSync(indexFile)) {
    const index = JSON.parse(readFileSync(indexFile, 'utf8'))
    index.manifests[0].annotations = { ...index.manifests[0].annotations, 'io.containerd.image.name': `docker.io/library/${name}`, 'org.opencontainers.image.ref.name': tag }
    writeFileSync(indexFile, JSON.stringify(index))
  }
  await execa('tar', ['--format=ustar', '--no-recursion', '-cf', join(dir, payload), '-C', unpacked, ...members, ...(members.includes('repositories') ? [] : ['repositories'])])
}

describe('crafted bundles (written by the test) are harmless', () => {
  const imageId = async (env: Record<string, string>, name: string) => dockerOn(env, 'image', 'inspect', '--format', '{{.Id}}', name)

  it('a run configuration only in the snapshot label is a request like any other: refused after loading, the load undone, its name never applied', async () => {
    const slug = await committedBottle(ESCAPING)
    hostB.track(slug)
    const base = await imageId(onB, BASE_IMAGE)
    const crafted = await craft(await exported(slug, ['--compress', 'none']), async (dir, manifest) => {
      manifest.runConfig = null
      await nameThePayload(dir, manifest.payload.name, BASE_IMAGE)
    })
    await expectRefused([crafted], 1, /the snapshot's label says how it runs, and asks for what was not allowed: .*pid:host/, slug)
    expect(await imageId(onB, BASE_IMAGE)).toBe(base)
  })

  it('a payload naming the base image leaves that name where it was when the import succeeds', async () => {
    const slug = await committedBottle(['--cap-drop', 'ALL'])
    hostB.track(slug)
    const base = await imageId(onB, BASE_IMAGE)
    const crafted = await craft(await exported(slug, ['--compress', 'none']), (dir, manifest) => nameThePayload(dir, manifest.payload.name, BASE_IMAGE))
    const imported = await hostB.task('import', [crafted])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(await imageId(onB, BASE_IMAGE)).toBe(base)
    expect(await imageId(onB, `bot-bottle-committed-${slug}:latest`)).not.toBe(base)
  })

  it('a compose sidecar that is privileged, shares the host pid namespace and binds the engine socket and /tmp is refused, nothing started', async () => {
    const slug = await committedBottle(['--cap-drop', 'ALL'])
    hostB.track(slug)
    const witness = join(tmpdir(), `bottle-tasks-pwned-${slug}`)
    const compose = [
      'services:',
      '  agent:',
      `    image: ${agentImage}`,
      '    cap_drop: [ALL]',
      '  egress:',
      `    image: ${agentImage}`,
      '    privileged: true',
      '    pid: host',
      '    volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/tmp:/hosttmp"]',
      `    command: ["sh", "-c", "touch /hosttmp/bottle-tasks-pwned-${slug}"]`,
      '',
    ].join('\n')
    const crafted = await craft(await exported(slug), (dir, manifest) => {
      mkdirSync(join(dir, 'state'), { recursive: true })
      writeFileSync(join(dir, 'state', 'docker-compose.yml'), compose)
      manifest.files = [{ name: 'docker-compose.yml', member: 'state/docker-compose.yml', size: 0, sha256: '0'.repeat(64) }]
      manifest.runConfig.run.compose = { project: `bot-bottle-${slug}`, service: 'agent', configFiles: [], workingDir: '', sidecars: [{ service: 'egress', image: agentImage }] }
    })
    const shown = await hostB.task('import', [crafted, '--show'])
    expect(shown.stdout).toMatch(/^ {2}egress\/privileged {2}/m)
    expect(shown.stdout).toMatch(/^ {2}egress\/bind:\/var\/run\/docker.sock {2}/m)
    expect(notAllowed(await expectRefused([crafted], 1, /not allowed: /, slug))).toEqual(['egress/bind:/tmp', 'egress/bind:/var/run/docker.sock', 'egress/pid:host', 'egress/privileged'])
    expect(existsSync(witness)).toBe(false)
    expect((await tryOn(onB, 'ps', '-a', '--filter', `label=com.docker.compose.project=bot-bottle-${slug}`, '-q')).stdout).toBe('')
  })

  it("a bundle naming another's volume: import never writes into it, and a boot never mounts it", async () => {
    const own = `data-${Math.random().toString(36).slice(2, 8)}`
    const slug = await committedBottle(['-v', `${own}:/data`])
    made.push({ kind: 'volume', name: own, env: onA })
    // A volume on B carrying the name the import would give the bottle's, not made by bottle-tasks.
    const crafted = await craft(await exported(slug), (_dir, manifest) => {
      manifest.runConfig.run.mounts = manifest.runConfig.run.mounts.map((mount: { type: string; source: string }) => (mount.type === 'volume' ? { ...mount, source: `app-${slug}` } : mount))
      manifest.volumes.carried = manifest.volumes.carried.map((volume: { name: string }) => ({ ...volume, name: `app-${slug}` }))
    })
    const victim = `app-${slug}`
    made.push({ kind: 'volume', name: victim, env: onB })
    await dockerOn(onB, 'volume', 'create', victim)
    await dockerOn(onB, 'run', '--rm', '-v', `${victim}:/v`, agentImage, 'sh', '-c', 'echo theirs > /v/file')
    hostB.track(slug)
    await expectRefused([crafted, '--force'], 2, new RegExp(`volume ${victim} exists on this host and is not bottle ${slug}'s`), slug)

    // Left behind by export (--no-volumes), the record still names it: the boot refuses, never mounting it.
    const without = await craft(await exported(slug, ['--no-volumes']), (_dir, manifest) => {
      manifest.runConfig.run.mounts = manifest.runConfig.run.mounts.map((mount: { type: string; source: string }) => (mount.type === 'volume' ? { ...mount, source: victim } : mount))
    })
    expect((await hostB.task('import', [without])).exitCode).toBe(0)
    const resumed = await hostB.task('resume', [slug])
    expect(resumed.exitCode).toBe(1)
    expect(expectOneLineError(resumed)).toContain(`volume ${victim} exists on this host and is not the bottle's own`)
    expect((await tryOn(onB, 'container', 'inspect', `bot-bottle-${slug}`)).exitCode).not.toBe(0)
    expect(await dockerOn(onB, 'run', '--rm', '-v', `${victim}:/v`, agentImage, 'sh', '-c', 'ls /v; cat /v/file')).toBe('file\ntheirs')
  })

  it('a bundle with a second manifest.json is bad input', async () => {
    const slug = await committedBottle(['--cap-drop', 'ALL'])
    const bundle = await exported(slug)
    const second = join(files, 'second')
    mkdirSync(second)
    writeFileSync(join(second, 'manifest.json'), JSON.stringify({ format: 'bottle-tasks-bundle' }))
    // Appended after the real manifest (tar -r): tar(1) would read this one.
    await execa('tar', ['--format=ustar', '-rf', bundle, '-C', second, 'manifest.json'])
    await expectRefused([bundle], 2, /manifest.json appears twice/, slug)
  })
})

describe('signed bottles', () => {
  let keys: string
  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), 'bottle-tasks-keys-'))
    for (const name of ['ours', 'stranger']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(keys, name)])
  })
  afterAll(() => rmSync(keys, { recursive: true, force: true }))
  /** B trusts the key `ours` as alice@example. */
  const trustOurs = () => {
    mkdirSync(hostB.home, { recursive: true })
    writeFileSync(join(hostB.home, 'allowed_signers'), `alice@example namespaces="bottle-tasks" ${readFileSync(join(keys, 'ours.pub'), 'utf8')}`)
  }

  it('a bundle signed by an allowed signer resumes trusted; one changed byte in the signature or the payload is refused; an unknown signer is held', async () => {
    const slug = await committedBottle(ESCAPING)
    hostB.track(slug)
    trustOurs()
    const signed = await exported(slug, ['--sign', join(keys, 'ours'), '--compress', 'none'])

    // One byte of the signature (inside its base64), one byte of the payload (inside a layer).
    const badSignature = await craft(signed, (dir) => {
      const file = join(dir, 'manifest.json.sig')
      const text = readFileSync(file, 'utf8').split('\n')
      text[3] = text[3]!.slice(0, 10) + (text[3]![10] === 'A' ? 'B' : 'A') + text[3]!.slice(11)
      writeFileSync(file, text.join('\n'))
    }, ['manifest.json.sig'])
    // craft re-measures what it rewrites: the manifest is unchanged here, only the signature.
    await expectRefused([badSignature], 2, /its signature does not verify/, slug)
    const badPayload = `${signed}.changed`
    writeFileSync(badPayload, readFileSync(signed))
    const offset = 512 + 4096
    const bytes = readFileSync(badPayload)
    bytes[offset] = bytes[offset]! ^ 0xff
    writeFileSync(badPayload, bytes)
    await expectRefused([badPayload], 2, /corrupt|sha256/, slug)

    const stranger = await exported(slug, ['--sign', join(keys, 'stranger')])
    await expectRefused([stranger], 1, /not allowed: /, slug)

    const imported = await hostB.task('import', [signed])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(imported.stdout).toContain('signed by alice@example (an allowed signer): trusted')
    expect((await hostB.task('list', [slug])).stdout).toContain('Signed by alice@example (an allowed signer): trusted.')
    expect((await hostB.task('resume', [slug])).exitCode).toBe(0)
    expect(JSON.parse(await dockerOn(onB, 'container', 'inspect', `bot-bottle-${slug}`))[0].HostConfig.PidMode).toBe('host')
  })

  it('a registry push signed by an allowed signer carries its signature beside it (sha256-<digest>.sig) and imports trusted', async () => {
    const slug = await committedBottle(ESCAPING)
    hostB.track(slug)
    trustOurs()
    const reference = `${registry}/trust/${slug}:v1`
    const pushed = await hostA.task('export', [slug, '--to', reference, '--sign', join(keys, 'ours')])
    expect(pushed.exitCode, pushed.stderr).toBe(0)
    expect(pushed.stdout).toMatch(/Signed: its signature is pushed as .*:sha256-[0-9a-f]{64}\.sig/)
    const shown = await hostB.task('import', [reference, '--show'])
    expect(shown.exitCode, shown.stderr).toBe(0)
    expect(shown.stdout).toContain('signed by alice@example (an allowed signer): trusted')
    const imported = await hostB.task('import', [reference])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(hostB.home, 'state', slug, 'origin.json'), 'utf8'))).toMatchObject({ from: { kind: 'registry', reference, digest: expect.stringMatching(/^sha256:/) }, signer: 'alice@example', trusted: true })

    // Unsigned (a repository with no signature beside it): read before pulling, refused, nothing pulled.
    const unsigned = `${registry}/trust/${slug}-unsigned:v1`
    expect((await hostA.task('export', [slug, '--to', unsigned])).exitCode).toBe(0)
    await expectRefused([unsigned, '--as', `${slug}-u`], 1, /not allowed: /, `${slug}-u`)
  })
})
