// @ts-check
// Machines: a record of each (a docker container `smolvm-NAME` and its labels), and `machine
// create|start|stop|delete|status|ls`. See smolvm-cli.mjs for the grammar and where each behaviour
// comes from.
import { randomBytes } from 'node:crypto'
import { existsSync, readSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { NotEmulatedError, parse, parsePort, parseU32, parseU8 } from './smolvm-args.mjs'
import { BARE_IMAGE, DEFAULT_CPUS, DEFAULT_MEM, LABEL, PREFIX, fail, json, packOwners, parseKeyValue, say } from './smolvm-common.mjs'
import { cleanDockerMessage, docker, dockerSpawn, inspectContainer, inspectImage } from './smolvm-docker.mjs'
import { ArtifactError, loadArtifactImage, readArtifact } from './smolvm-pack.mjs'

/** @typedef {import('./smolvm-args.mjs').Spec} Spec */

/** @type {import('./smolvm-args.mjs').OptionSpec} */
const nameOpt = { short: 'n', long: 'name', value: 'NAME' }

/** @type {Record<string, Spec>} */
export const SPECS = {
  create: {
    path: 'machine create',
    usage: '[OPTIONS] [-- <COMMAND>...]',
    about: 'Create a new named machine configuration',
    options: [
      nameOpt,
      { long: 'label', value: 'KEY=VALUE', multiple: true },
      { short: 'I', long: 'image', value: 'IMAGE' },
      { long: 'cpus', value: 'N', parse: parseU8 },
      { long: 'mem', value: 'MiB', parse: parseU32 },
      { short: 'v', long: 'volume', value: 'HOST:GUEST[:ro]', multiple: true },
      { short: 'p', long: 'port', value: 'HOST:GUEST', multiple: true, parse: parsePort },
      { long: 'net' },
      { short: 'e', long: 'env', value: 'KEY=VALUE', multiple: true },
      { short: 'w', long: 'workdir', value: 'DIR' },
      { long: 'from', value: 'PATH' },
      // Accepted, and with --from ignored: see cmdCreate.
      { long: 'secret-env', value: 'GUEST_VAR=HOST_VAR', multiple: true },
      { long: 'secret-file', value: 'GUEST_VAR=PATH', multiple: true },
    ],
    positional: { kind: 'last', value: 'COMMAND' },
    conflicts: [['from', 'image']],
    notEmulated: ['max-image-size', 'storage', 'overlay', 'net-backend', 'dns', 'network', 'allow-cidr', 'allow-host', 'outbound-localhost-only', 'gpu', 'gpu-vram', 'rosetta', 'expose-socket', 'mount-socket', 'init', 'ssh-agent', 'cuda', 'auto-graph', 'docker-socket', 'smolfile', 's'],
  },
  start: {
    path: 'machine start',
    usage: '[OPTIONS]',
    about: 'Start a machine',
    options: [nameOpt],
    notEmulated: ['forkable', 'fork-pool-size', 'cuda-vram-limit-mib', 'proxy', 'no-proxy'],
  },
  stop: { path: 'machine stop', usage: '[OPTIONS]', about: 'Stop a running machine', options: [nameOpt] },
  delete: {
    path: 'machine delete',
    usage: '[OPTIONS] --name <NAME>',
    about: 'Delete a machine configuration',
    options: [{ ...nameOpt, required: true }, { short: 'f', long: 'force' }],
    notEmulated: ['cascade'],
  },
  status: { path: 'machine status', usage: '[OPTIONS]', about: 'Show machine status', options: [nameOpt, { long: 'json' }] },
  ls: { path: 'machine ls', usage: '[OPTIONS]', about: 'List all machines', options: [{ short: 'v', long: 'verbose' }, { long: 'json' }] },
}

/**
 * A machine, as its docker container's labels keep it.
 * @typedef {object} Machine
 * @property {string} name
 * @property {string} container
 * @property {string} id
 * @property {'created' | 'running' | 'stopped' | 'failed' | 'frozen'} state
 * @property {boolean} running
 * @property {number | null} pid
 * @property {boolean} neverStarted
 * @property {number} cpus
 * @property {number} mem
 * @property {string | null} image
 * @property {number} createdAt
 * @property {Record<string, string>} labels
 * @property {boolean} network
 * @property {Array<{ host: string, guest: string, readOnly: boolean }>} mounts
 * @property {Array<{ host: number, guest: number }>} ports
 * @property {string[]} entrypoint
 * @property {string[]} cmd
 * @property {string[]} env
 * @property {string | null} workdir
 * @property {string | null} source
 * @property {string} user who `machine exec` runs as ('' for root)
 * @property {{ uid: number, gid: number } | null} remap owners to give every file at the first start
 * @property {string | null} ownedImage
 * @property {string} imageId
 */

/** @param {string} name */
export const containerName = (name) => `${PREFIX}${name}`

/** @param {{ Status: string, Paused: boolean }} s @returns {Machine['state']} */
function stateOf(s) {
  if (s.Paused) return 'frozen'
  switch (s.Status) {
    case 'created':
      return 'created'
    case 'running':
    case 'restarting':
      return 'running'
    case 'dead':
      return 'failed'
    default:
      return 'stopped'
  }
}

/** A list label (machines of older emulators kept counts there). @param {unknown} value */
const arrayOf = (value) => (Array.isArray(value) ? value : [])

/** @param {import('./smolvm-docker.mjs').DockerContainer | null} c @returns {Machine | null} */
function recordOf(c) {
  const L = c?.Config?.Labels ?? {}
  const name = L['smolvm.name']
  if (!c || L[LABEL] !== 'smolvm' || !name) return null
  const state = stateOf(c.State)
  return {
    name,
    container: c.Name.replace(/^\//, ''),
    id: c.Id,
    state,
    running: state === 'running',
    pid: state === 'running' ? c.State.Pid : null,
    neverStarted: String(c.State.StartedAt).startsWith('0001-'),
    cpus: Number(L['smolvm.cpus'] ?? DEFAULT_CPUS),
    mem: Number(L['smolvm.mem'] ?? DEFAULT_MEM),
    image: L['smolvm.image'] || null,
    createdAt: Number(L['smolvm.created_at'] ?? 0),
    labels: json(L['smolvm.labels'], {}),
    network: L['smolvm.network'] === 'true',
    mounts: arrayOf(json(L['smolvm.mounts'], [])),
    ports: arrayOf(json(L['smolvm.ports'], [])),
    entrypoint: json(L['smolvm.entrypoint'], []),
    cmd: json(L['smolvm.cmd'], []),
    env: json(L['smolvm.env'], []),
    workdir: L['smolvm.workdir'] || null,
    source: L['smolvm.source_smolmachine'] || null,
    user: L['smolvm.user'] ?? '',
    remap: json(L['smolvm.remap'], null),
    ownedImage: L['smolvm.owned_image'] || null,
    imageId: c.Image,
  }
}

/** @param {string} name */
export function getMachine(name) {
  const rec = recordOf(inspectContainer(containerName(name)))
  return rec && rec.name === name ? rec : null
}

function listMachines() {
  const ids = docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABEL}=smolvm`])
  if (ids.code !== 0) fail(`list machines: ${cleanDockerMessage(ids.stderr)}`)
  const list = ids.stdout.split('\n').filter(Boolean)
  if (list.length === 0) return []
  const r = docker(['container', 'inspect', ...list])
  // a container removed between ps and inspect makes inspect fail for all: retry one by one
  /** @type {Array<import('./smolvm-docker.mjs').DockerContainer | null>} */
  const objs = r.code === 0 ? json(r.stdout, []) : list.map((id) => inspectContainer(id))
  return objs
    .map(recordOf)
    .filter((machine) => machine !== null)
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** `machine ls --json` / `machine status --json` (list_vms in src/cli/vm_common.rs, plus labels). @param {Machine} m */
function jsonOf(m) {
  return {
    name: m.name,
    state: m.state,
    cpus: m.cpus,
    memory_mib: m.mem,
    pid: m.pid,
    mounts: m.mounts.length,
    ports: m.ports.length,
    created_at: m.createdAt,
    storage_gb: null,
    overlay_gb: null,
    image: m.image,
    entrypoint: m.entrypoint,
    cmd: m.cmd,
    ephemeral: false,
    network: m.network,
    labels: m.labels,
  }
}

/** validate_vm_name. @param {string} name */
function validateName(name) {
  if (name.length === 0) fail('machine name cannot be empty')
  if (name.length > 128) fail(`machine name too long (${name.length} characters, max 128)`)
  if (!/^[A-Za-z0-9]/.test(name)) fail(`machine name '${name}' must start with a letter or digit`)
  const bad = /[^A-Za-z0-9_-]/.exec(name)
  if (bad) fail(`machine name '${name}' contains invalid character '${bad[0]}' (allowed: letters, digits, '_' and '-')`)
  if (name.includes('--')) fail(`machine name '${name}' cannot contain '--'`)
  if (name.endsWith('-')) fail(`machine name '${name}' cannot end with '-'`)
}

/** @param {string} ref */
export function imageExists(ref) {
  return docker(['image', 'inspect', '--format', '{{.Id}}', ref]).code === 0
}

/** docker rmi (untag) without force: fails harmlessly while a container still uses the image. @param {string | null} ref */
export function releaseImage(ref) {
  if (ref) docker(['image', 'rm', ref])
}

/** @param {string} ref */
export function isLocalImagePath(ref) {
  return ref === '-' || ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || /\.tar(\.gz)?$/.test(ref)
}

/** `docker pull` REF from its registry (always asks the registry). @param {string} ref @returns {{ id: string, pulledTag: string | null }} */
export function pullImage(ref) {
  const existed = imageExists(ref)
  const r = docker(['pull', '-q', ref])
  if (r.code !== 0) fail(`failed to pull image '${ref}': ${cleanDockerMessage(r.stderr) || `docker pull exited ${r.code}`}`)
  const id = docker(['image', 'inspect', '--format', '{{.Id}}', ref]).stdout.trim()
  if (!id) fail(`failed to pull image '${ref}': not found after pull`)
  return { id, pulledTag: existed ? null : ref }
}

/** @param {string | null} file a `docker save` archive, or null for stdin @returns {Promise<string>} */
async function dockerLoadFrom(file) {
  let out = ''
  let err = ''
  const r = await dockerSpawn(file !== null ? ['load', '-i', file] : ['load'], {
    stdio: [file !== null ? 'ignore' : 'inherit', 'pipe', 'pipe'],
    onSpawn: (child) => {
      child.stdout?.on('data', (c) => (out += c))
      child.stderr?.on('data', (c) => (err += c))
    },
  })
  if (r.code !== 0) fail(`load image archive: ${cleanDockerMessage(err) || `docker load exited ${r.code}`}`)
  const byId = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(out)
  if (byId?.[1]) return byId[1]
  let last = null
  for (const m of out.matchAll(/Loaded image: (\S+)/g)) last = m[1]
  if (last) return docker(['image', 'inspect', '--format', '{{.Id}}', last]).stdout.trim()
  return fail('load image archive: docker load reported no image')
}

/** @param {string} id */
const shortId = (id) => String(id).replace(/^sha256:/, '').slice(0, 12)

/** HostMount::parse: HOST:GUEST[:ro], the host path must exist, the guest path absolute. @param {string} spec */
function parseVolume(spec) {
  const parts = spec.split(':')
  const [hostPart = '', guest = '', mode] = parts
  if (parts.length < 2 || parts.length > 3 || hostPart === '' || guest === '' || (parts.length === 3 && mode !== 'ro')) {
    fail(`invalid mount path: expected HOST:GUEST[:ro], got '${spec}'`)
  }
  const host = resolve(hostPart)
  if (!existsSync(host)) fail(`mount source not found: ${host}`)
  if (!guest.startsWith('/')) fail(`invalid mount path: guest path must be absolute, got '${guest}'`)
  return { host, guest, readOnly: mode === 'ro' }
}

/** @param {string[]} argv */
export async function cmdCreate(argv) {
  const { opts, rest } = parse(/** @type {Spec} */ (SPECS.create), argv)
  const name = opts.string('name') ?? `vm-${randomBytes(4).toString('hex')}`
  validateName(name)
  if (inspectContainer(containerName(name))) fail(`machine '${name}' already exists or is being created`)
  const labels = Object.fromEntries(opts.strings('label').map((l) => parseKeyValue(l, 'label')))
  const env = opts.strings('env').map((e) => parseKeyValue(e, 'env').join('='))
  const volumes = opts.strings('volume').map(parseVolume)
  const ports = /** @type {Array<{ host: number, guest: number }>} */ (opts.raw('port') ?? [])
  const cliCpus = opts.number('cpus') ?? DEFAULT_CPUS
  const cliMem = opts.number('mem') ?? DEFAULT_MEM
  if (cliCpus === 0) fail('invalid resources: cpus must be at least 1')
  if (cliMem === 0) fail('invalid resources: memory must be at least 1 MiB')

  /** @type {string} */
  let dockerImage
  /** @type {string | null} */
  let recordImage = null
  /** @type {string | null} */
  let owned = null
  /** @type {string[]} */
  let entrypoint = []
  let cmd = rest
  let cpus = cliCpus
  let mem = cliMem
  let network = opts.flag('net')
  let workdir = opts.string('workdir') ?? null
  let recordEnv = env
  // Who exec runs as: an image machine's image USER (root without one), a bare machine's root.
  let user = ''
  /** @type {Record<string, string>} */
  const extraLabels = {}

  const from = opts.string('from')
  const image = opts.string('image')
  // CreateCmd::run_from_smolmachine (src/cli/machine.rs, 00ec173) builds the machine's secret_refs
  // from the pack's manifest alone: --secret-env/--secret-file given with --from are neither parsed
  // nor kept, and the machine gets nothing from them. Without --from they become refs resolved at
  // every start and exec, which this emulator does not implement.
  const secretRefs = [...opts.strings('secret-env'), ...opts.strings('secret-file')]
  if (from === undefined && secretRefs.length > 0) throw new NotEmulatedError("'--secret-env'/'--secret-file' without --from are real smolvm options that this emulator does not implement")
  if (from !== undefined) {
    const path = resolve(from)
    if (!existsSync(path) || !statSync(path).isFile()) fail(`file not found: ${from}`)
    let artifact
    try {
      artifact = readArtifact(path)
    } catch (err) {
      if (err instanceof ArtifactError) fail(`read .smolmachine: ${err.message}`)
      throw err
    }
    const m = artifact.manifest
    say('Extracting .smolmachine assets...')
    /** @type {string} */
    let id = ''
    try {
      id = await loadArtifactImage(path, artifact)
    } catch (err) {
      fail(`extract sidecar: ${err instanceof Error ? err.message : err}`)
    }
    owned = `smolvm-emulator/pack:${shortId(id)}`
    const t = docker(['tag', id, owned])
    if (t.code !== 0) fail(`extract sidecar: ${cleanDockerMessage(t.stderr)}`)
    dockerImage = owned
    recordImage = m.image || null
    // run_from_smolmachine: CLI values that differ from the defaults override the manifest's.
    cpus = cliCpus !== DEFAULT_CPUS ? cliCpus : (m.cpus ?? DEFAULT_CPUS)
    mem = cliMem !== DEFAULT_MEM ? cliMem : (m.mem ?? DEFAULT_MEM)
    network = Boolean(m.network) || opts.flag('net')
    if (rest.length > 0) {
      entrypoint = []
      cmd = rest
    } else {
      entrypoint = m.entrypoint ?? []
      cmd = m.cmd ?? []
    }
    workdir = null // the pack's workdir (the image's); -w is not used with --from
    recordEnv = [...(m.env ?? []), ...env]
    user = m.user ?? ''
    extraLabels['smolvm.source_smolmachine'] = path
    extraLabels['smolvm.remap'] = JSON.stringify(packOwners())
    if (m.workdir) extraLabels['smolvm.workdir'] = m.workdir
  } else if (image !== undefined) {
    if (image === '-' || (isLocalImagePath(image) && existsSync(image))) {
      if (image !== '-' && statSync(image).isDirectory()) throw new NotEmulatedError(`--image with a rootfs directory ('${image}') is not emulated`)
      const id = await dockerLoadFrom(image === '-' ? null : resolve(image))
      owned = `smolvm-emulator/local:${shortId(id)}`
      docker(['tag', id, owned])
      dockerImage = owned
      recordImage = `local:${id}`
    } else if (isLocalImagePath(image)) {
      fail(`image archive not found: ${image}`)
    } else {
      // real smolvm pulls inside the VM at `start`; the emulator pulls now (the container needs it),
      // so a missing image is reported by create instead of start.
      const { id, pulledTag } = pullImage(image)
      dockerImage = id
      recordImage = image
      owned = pulledTag
    }
    user = inspectImage(dockerImage)?.Config?.User ?? ''
  } else {
    dockerImage = BARE_IMAGE
    if (!imageExists(BARE_IMAGE)) fail(`bare machine image '${BARE_IMAGE}' is not in the engine (set SMOLVM_EMULATOR_BARE_IMAGE)`)
  }
  if (workdir) extraLabels['smolvm.workdir'] = workdir

  const created = Math.floor(Date.now() / 1000)
  const labelArgs = Object.entries({
    [LABEL]: 'smolvm',
    'smolvm.name': name,
    'smolvm.cpus': String(cpus),
    'smolvm.mem': String(mem),
    'smolvm.image': recordImage ?? '',
    'smolvm.created_at': String(created),
    'smolvm.labels': JSON.stringify(labels),
    'smolvm.network': String(network),
    'smolvm.mounts': JSON.stringify(volumes),
    'smolvm.ports': JSON.stringify(ports),
    'smolvm.entrypoint': JSON.stringify(entrypoint),
    'smolvm.cmd': JSON.stringify(cmd),
    'smolvm.env': JSON.stringify(recordEnv),
    'smolvm.user': user,
    'smolvm.owned_image': owned ?? '',
    'smolvm.source_smolmachine': '',
    'smolvm.remap': 'null',
    'smolvm.workdir': '',
    ...extraLabels,
  }).flatMap(([k, v]) => ['--label', `${k}=${v}`])
  const args = [
    'create',
    '--name',
    containerName(name),
    '--init',
    ...labelArgs,
    // Without --net a VM has no network at all: -p is recorded but nothing is published (it never
    // gives a VM the outbound network it was created without).
    ...(network ? [] : ['--network', 'none']),
    ...env.flatMap((e) => ['-e', e]),
    ...(workdir ? ['-w', workdir] : []),
    ...volumes.flatMap((v) => ['-v', `${v.host}:${v.guest}${v.readOnly ? ':ro' : ''}`]),
    ...(network ? ports.flatMap((p) => ['-p', `${p.host}:${p.guest}`]) : []),
    '--user',
    '0',
    '--entrypoint',
    'sleep',
    dockerImage,
    'infinity',
  ]
  const r = docker(args)
  if (r.code !== 0) {
    if (/Conflict|already in use/i.test(r.stderr)) fail(`machine '${name}' already exists or is being created`)
    if (owned && from === undefined) releaseImage(owned)
    fail(`create machine: ${cleanDockerMessage(r.stderr)}`)
  }
  say(`Created machine: ${name}`)
  say(`  CPUs: ${cpus}, Memory: ${mem} MiB`)
  if (volumes.length > 0) say(`  Mounts: ${volumes.length}`)
  if (ports.length > 0) say(`  Ports: ${ports.length}`)
  say(`\nUse 'smolvm machine start --name ${name}' to start the machine`)
  say(`Then use 'smolvm machine exec --name ${name} -- <command>' to run commands`)
}

/** @param {Machine} m */
async function startMachine(m) {
  const mountInfo = m.mounts.length > 0 ? ` with ${m.mounts.length} mount(s)` : ''
  const portInfo = m.ports.length > 0 ? ` and ${m.ports.length} port mapping(s)` : ''
  say(`Starting machine '${m.name}'${mountInfo}${portInfo}...`)
  const r = docker(['start', m.container])
  if (r.code !== 0) fail(`start machine: ${cleanDockerMessage(r.stderr)}`)
  if (m.remap && m.neverStarted) {
    // SMOLVM_EMULATOR_PACK_OWNERS=host: the pack's files show the host user as their owner.
    const { uid, gid } = m.remap
    docker(['exec', '-u', '0', m.container, 'sh', '-c', `find / -xdev -exec chown -h ${uid}:${gid} {} + 2>/dev/null; exit 0`])
  }
  // The persistent workload (entrypoint + cmd) runs detached, without a user: as root
  // (start_vm_named in src/cli/vm_common.rs builds its RunConfig without with_user).
  const workload = [...m.entrypoint, ...m.cmd]
  if (workload.length > 0) {
    const w = docker(['exec', '-d', '-u', '0', m.container, ...workload])
    if (w.code !== 0) process.stderr.write(`warning: failed to start the machine's workload: ${cleanDockerMessage(w.stderr)}\n`)
  }
  say(`Machine '${m.name}' running (PID: ${getMachine(m.name)?.pid ?? 0})`)
}

/** @param {string[]} argv */
export async function cmdStart(argv) {
  const { opts } = parse(/** @type {Spec} */ (SPECS.start), argv)
  const name = opts.string('name') ?? 'default'
  let m = getMachine(name)
  if (!m) {
    if (opts.string('name') !== undefined) fail(`vm not found: ${name}`)
    // no --name and no "default" machine: smolvm starts a bare default VM
    await quietly(() => cmdCreate(['--name', 'default']))
    m = getMachine('default')
    if (!m) fail('vm not found: default')
  }
  if (m.running) {
    say(`Machine '${name}' already running (PID: ${m.pid})`)
    return
  }
  await startMachine(m)
}

/** @param {() => Promise<void>} action */
async function quietly(action) {
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = () => true
  try {
    await action()
  } finally {
    process.stdout.write = write
  }
}

/** @param {Machine} m */
function stopContainer(m) {
  const r = docker(['stop', '-t', '10', m.container])
  if (r.code !== 0) fail(`stop machine: ${cleanDockerMessage(r.stderr)}`)
}

/**
 * stop_vm_named / stop_vm_default (src/cli/vm_common.rs, f4a136d on): an unknown --name fails with
 * `vm not found: NAME`, exit 1 ("genuinely not found. Exit non-zero, consistent with
 * status/start/delete"); without --name and no `default` machine it reports it stopped; a machine
 * that is not running is said so, exit 0.
 * @param {string[]} argv
 */
export async function cmdStop(argv) {
  const { opts } = parse(/** @type {Spec} */ (SPECS.stop), argv)
  const name = opts.string('name') ?? 'default'
  const m = getMachine(name)
  if (!m) {
    if (opts.string('name') === undefined) {
      say("Stopping machine 'default'...")
      say("Machine 'default' stopped")
      return
    }
    return fail(`vm not found: ${name}`)
  }
  if (!m.running) {
    say(`Machine '${name}' is not running (state: ${m.state})`)
    return
  }
  say(`Stopping machine '${name}'...`)
  stopContainer(m)
  say(`Stopped machine: ${name}`)
}

function readLineSync() {
  const buf = Buffer.alloc(1)
  let line = ''
  for (;;) {
    let n
    try {
      n = readSync(0, buf, 0, 1, null)
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
        continue
      }
      return null
    }
    if (n === 0) return line
    const ch = buf.toString('utf8')
    if (ch === '\n') return line
    line += ch
  }
}

/** @param {string[]} argv */
export async function cmdDelete(argv) {
  const { opts } = parse(/** @type {Spec} */ (SPECS.delete), argv)
  const name = opts.string('name') ?? ''
  const m = getMachine(name)
  if (!m) return fail(`vm not found: ${name}`)
  if (m.running) {
    // smolvm stops a running machine before it asks (stop_if_running), even if the answer is no
    say(`Stopping machine '${name}'...`)
    stopContainer(m)
  }
  if (!opts.flag('force')) {
    process.stderr.write(`Delete machine '${name}'? [y/N] `)
    const answer = (readLineSync() ?? '').trim().toLowerCase()
    if (answer !== 'y' && answer !== 'yes') {
      say('Cancelled')
      return
    }
  }
  const r = docker(['rm', '-f', m.container])
  if (r.code !== 0 && !/No such container/i.test(r.stderr)) fail(`delete machine: ${cleanDockerMessage(r.stderr)}`)
  releaseImage(m.ownedImage)
  say(`Deleted machine: ${name}`)
}

/** @param {string[]} argv */
export async function cmdStatus(argv) {
  const { opts } = parse(/** @type {Spec} */ (SPECS.status), argv)
  const name = opts.string('name') ?? 'default'
  const m = getMachine(name)
  if (opts.flag('json')) {
    if (!m) return fail(`vm not found: ${name}`)
    say(JSON.stringify(jsonOf(m), null, 2))
    return
  }
  if (m && m.running) say(`Machine '${name}': running (PID: ${m.pid})`)
  else say(`Machine '${name}': not running`)
}

/** @param {string[]} argv */
export async function cmdLs(argv) {
  const { opts } = parse(/** @type {Spec} */ (SPECS.ls), argv)
  const machines = listMachines()
  if (opts.flag('json')) {
    say(machines.length === 0 ? '[]' : JSON.stringify(machines.map(jsonOf), null, 2))
    return
  }
  if (machines.length === 0) {
    say('No machines found')
    return
  }
  /** @param {string[]} cols */
  const row = (cols) => `${(cols[0] ?? '').padEnd(20)} ${(cols[1] ?? '').padEnd(12)} ${(cols[2] ?? '').padStart(5)} ${(cols[3] ?? '').padStart(10)} ${(cols[4] ?? '').padStart(7)} ${(cols[5] ?? '').padStart(7)}`
  say(row(['NAME', 'STATE', 'CPUS', 'MEMORY', 'MOUNTS', 'PORTS']))
  say('-'.repeat(66))
  for (const m of machines) {
    const shown = m.name.length > 18 ? `${m.name.slice(0, 15)}...` : m.name
    say(row([shown, m.state, String(m.cpus), `${m.mem} MiB`, String(m.mounts.length), String(m.ports.length)]))
    if (opts.flag('verbose')) {
      if (m.pid) say(`  PID: ${m.pid}`)
      for (const mount of m.mounts) say(`  Mount: ${mount.host} -> ${mount.guest}${mount.readOnly ? ' (ro)' : ''}`)
      for (const port of m.ports) say(`  Port: ${port.host} -> ${port.guest}`)
      if (m.network) say('  Network: enabled')
      for (const e of m.env) say(`  Env: ${e}`)
      if (m.workdir) say(`  Workdir: ${m.workdir}`)
      say(`  Created: ${m.createdAt}`)
      say('')
    }
  }
}
