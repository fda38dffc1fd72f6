// @ts-nocheck
// smolvm emulator (bottle-tasks tests): the `smolvm` v1.9.x CLI grammar, doing the real work with
// Docker. smolvm (libkrun microVMs) cannot run on the Linux CI machine, so the smolmachines backend is
// tested against this. Put test/emulators first on PATH. Node built-ins only.
//
// WHAT A "MACHINE" IS HERE
//   A Docker container named `smolvm-<NAME>`, labelled `bottle-tasks.emulator=smolvm` plus
//   `smolvm.name`, `smolvm.cpus`, `smolvm.mem`, `smolvm.image`, `smolvm.created_at` (unix seconds),
//   `smolvm.labels` (JSON of the --label pairs), `smolvm.network`, … Its main process is
//   `docker-init -- sleep infinity` (so `exec` works once started; the image needs a `sleep`).
//   `machine create` does NOT start it: state `created`. States: created | running | stopped
//   (docker: created | running | exited), paused → frozen, dead → failed.
//   Without --net the container gets `--network none` (a smolvm VM has no outbound network without
//   --net); -p mappings need a network, so -p implies Docker's default bridge here. --cpus/--mem are
//   recorded, not enforced. The machine namespace is the whole Docker engine (not per user).
//   `machine create --image REF` `docker pull`s REF from its registry AT CREATE (real smolvm pulls
//   inside the VM at `start`; so a missing image fails create here); `--image ./x.tar` and
//   `--image -` (a `docker save` archive, file or stdin) are docker-loaded instead.
//
// GRAMMAR (strict, from the facts in /work/shared/reference/cli-facts.md and smolvm's clap sources)
//   machine create [--name|-n N] [--image|-I REF|./x.tar|-] [--from FILE.smolmachine] [--cpus N]
//                  [--mem MiB] [--net] [-e K=V]... [-w DIR] [-v HOST:GUEST[:ro]]... [-p H:G]...
//                  [--label K=V]... [-- CMD…]
//   machine start [--name|-n N]          machine stop [--name|-n N]
//   machine delete|rm --name|-n N [-f]   machine ls|list [--json] [-v]
//   machine status [--name|-n N] [--json]
//   machine exec [--name N] [-i] [-t] [-e K=V]... [-w DIR] [--timeout 30s] [--stream] [--] CMD ARGS…
//   machine cp SRC DST                   (exactly one side NAME:/path)
//   pack create (--image|-I REF | --from-vm NAME) -o|--output PATH [--cpus N] [--mem MiB] [--entrypoint CMD]
//   --version | -V, --help | -h
//
// EXIT STATUS AND ERRORS
//   * Command-line errors are clap's: `error: …` + usage on stderr, exit 2. That covers unknown
//     subcommands and flags, `-n` on `machine exec` (only --name there), a bare positional name
//     (`machine create myvm`, `machine start myvm`), `--from` together with `--image`, missing
//     required flags, bad values (`--cpus x`, `--timeout 3x`, `-p 80`).
//   * smolvm's own errors: `Error: <message>` on stderr, exit 1. Messages (the parts the facts quote;
//     real smolvm prefixes some with "<kind> operation failed: <operation>: ", so match substrings):
//       Error: vm not found: NAME                                   (start/delete/status --json)
//       Error: machine 'NAME' already exists or is being created    (create)
//       Error: machine 'NAME' is not running. Use 'smolvm machine start --name NAME' first.  (exec, cp)
//       Error: machine name …                                       (create: name rules)
//       Error: output path must not end in .smolmachine: …          (pack create -o x.smolmachine)
//       Error: failed to pull image 'REF': <docker's reason>        (pack create / machine create --image)
//       Error: VM 'NAME' is running. Stop it first with: smolvm machine stop --name NAME  (pack --from-vm)
//       Error: VM 'NAME' not found                                  (pack --from-vm)
//   * Real smolvm options this emulator does not implement (e.g. --smolfile, --init, exec -d,
//     `machine run`, `pack push`) fail with `Error: smolvm emulator: … not emulated`, exit 1.
//   * `machine stop` of an unknown or stopped machine prints a message and exits 0 (as smolvm does).
//   * `machine delete` without -f: a running machine is STOPPED FIRST (smolvm does that before it
//     asks), then `Delete machine 'N'? [y/N] ` on stderr; anything but y/yes (empty or closed stdin
//     included) prints `Cancelled` and exits 0 WITHOUT deleting.
//
// EXEC
//   Runs as root (uid 0) in the guest, with the machine's env and workdir (-e/-w add/override).
//   Exit status = the guest command's. Without --stream (and without -i/-t) stdout and stderr are
//   buffered until the command ends, then written (stdout first). --stream passes them through live.
//   --timeout kills the guest command and exits 124 with `Error: command timed out after DURATION`
//   (exit code and text are the emulator's choice: smolvm's own timeout report is not documented).
//   Does not start a stopped machine. `exec` on an unknown machine says "is not running" (smolvm
//   only probes the agent).
//   BUSY (the "second exec may be refused while an interactive session runs" limit): if the
//   machine has an interactive session — the env var SMOLVM_EMULATOR_BUSY names the machine
//   (comma/space separated list allowed), or the file /tmp/smolvm-emulator-busy-NAME exists
//   (directory: $SMOLVM_EMULATOR_BUSY_DIR) — `exec` and `cp` fail, exit 1, with:
//     Error: agent operation failed: connect: machine 'NAME' is busy: an interactive session is attached and the agent does not accept a concurrent exec
//   `machine exec -i -t` itself creates that marker file for its duration (pid inside; a marker
//   whose pid is dead is ignored).
//
// PACKS (`pack create`) and `machine create --from`: see lib/smolvm-pack.mjs for the artifact format.
//   --image REF is PULLED from its registry with `docker pull` (a local-only image is refused); a tag
//   the pull created is removed again afterwards. -o PATH writes the launcher PATH (executable shell
//   script: `./PATH [CMD…]` loads the sidecar's image and `docker run`s it once) and the artifact
//   PATH.smolmachine (suffix appended: -o
//   a/b.img → a/b.img.smolmachine; -o x.smolmachine is refused). Writing to the same -o again replaces
//   both files. --from-vm NAME needs the machine stopped (docker commit of it).
//   `machine create --from F` docker-loads the artifact's image (sha256-checked) into the engine, tags
//   it smolvm-emulator/pack:<id12> (removed again when the last machine using it is deleted) and
//   creates the machine from it: self-contained, works on an engine that never saw the image.
//   --cpus/--mem equal to the defaults (4, 8192) do not override the pack's values; -w is ignored
//   (the pack's workdir is used); -- CMD replaces the pack's entrypoint/cmd as the workload.
//   OWNER REMAP: real smolvm's pack step remaps file owners to the host uid (501 on macOS). Emulated
//   at the FIRST `machine start` of a machine created --from: `chown -R 501:501 /home /tmp /var/tmp`
//   runs in the guest before start returns. So the backend's boot init (chown -R node:node /home/node,
//   chown root:root + chmod 1777 /tmp /var/tmp) is really needed, and its effect is observable.
//
// WORKLOAD: `-- CMD` on create (or a pack's entrypoint/cmd for --from machines) is started detached
//   (`docker exec -d`, as the image's user) on every `machine start`, like smolvm's workload container.
//
// ENVIRONMENT: SMOLVM_EMULATOR_DOCKER (docker binary), SMOLVM_EMULATOR_BARE_IMAGE (image of a machine
//   created without --image/--from, default debian:bookworm-slim; real smolvm boots its Alpine agent
//   rootfs), SMOLVM_EMULATOR_BUSY, SMOLVM_EMULATOR_BUSY_DIR. DOCKER_HOST/contexts as the docker CLI.
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { constants as osConstants } from 'node:os'
import { dirname, join, posix, resolve } from 'node:path'
import { HelpRequested, NotEmulatedError, UsageError, clapError, helpText, parse, parseDuration, parsePort, parseU32, parseU8 } from './smolvm-args.mjs'
import { cleanDockerMessage, docker, dockerSpawn, inspect } from './smolvm-docker.mjs'
import { ArtifactError, loadArtifactImage, readArtifact, writeArtifact, writeLauncher, SIDECAR_EXTENSION } from './smolvm-pack.mjs'
import { endOfArchive, entryHeader, padding, readTarStream } from './smolvm-tar.mjs'

const VERSION = '1.9.0'
const LABEL = 'bottle-tasks.emulator'
const PREFIX = 'smolvm-'
const DEFAULT_CPUS = 4
const DEFAULT_MEM = 8192
const REMAP_UID = 501
const BARE_IMAGE = process.env.SMOLVM_EMULATOR_BARE_IMAGE || 'debian:bookworm-slim'

class SmolError extends Error {
  constructor(message, code = 1) {
    super(message)
    this.code = code
  }
}

const fail = (message, code = 1) => {
  throw new SmolError(message, code)
}
const say = (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
const warn = (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)
process.stdout.on('error', () => {})

// --- specs -------------------------------------------------------------------------------------

const nameOpt = { short: 'n', long: 'name', value: 'NAME' }
const SPECS = {
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
    ],
    positional: { kind: 'last', value: 'COMMAND' },
    conflicts: [['from', 'image']],
    notEmulated: ['max-image-size', 'storage', 'overlay', 'net-backend', 'dns', 'network', 'allow-cidr', 'allow-host', 'outbound-localhost-only', 'gpu', 'gpu-vram', 'rosetta', 'expose-socket', 'mount-socket', 'init', 'ssh-agent', 'cuda', 'auto-graph', 'docker-socket', 'secret-env', 'secret-file', 'smolfile', 's'],
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
  exec: {
    path: 'machine exec',
    usage: '[OPTIONS] <COMMAND>...',
    about: 'Run a command directly in the VM (not in a container)',
    options: [
      { long: 'name', value: 'NAME' }, // no -n on exec
      { short: 'w', long: 'workdir', value: 'DIR' },
      { short: 'e', long: 'env', value: 'KEY=VALUE', multiple: true },
      { long: 'timeout', value: 'DURATION', parse: parseDuration },
      { short: 'i', long: 'interactive' },
      { short: 't', long: 'tty' },
      { long: 'stream' },
    ],
    positional: { kind: 'trailing', value: 'COMMAND', required: true },
    notEmulated: ['secret-env', 'secret-file', 'detach', 'd'],
  },
  cp: {
    path: 'machine cp',
    usage: '[OPTIONS] <SRC> <DST>',
    about: 'Copy files between host and machine',
    options: [],
    positional: { kind: 'fixed', names: ['SRC', 'DST'] },
    notEmulated: ['mode', 'uid', 'gid'],
  },
  packCreate: {
    path: 'pack create',
    usage: '[OPTIONS] --output <PATH>',
    about: 'Package an OCI image or VM snapshot into a self-contained executable',
    options: [
      { short: 'I', long: 'image', value: 'IMAGE' },
      { long: 'from-vm', value: 'VM_NAME' },
      { short: 'o', long: 'output', value: 'PATH', required: true },
      { long: 'cpus', value: 'N', parse: parseU8 },
      { long: 'mem', value: 'MiB', parse: parseU32 },
      { long: 'entrypoint', value: 'CMD' },
    ],
    conflicts: [['image', 'from-vm']],
    notEmulated: ['oci-platform', 'no-sign', 'single-file', 'stub', 'lib-dir', 'rootfs-dir', 'smolfile', 's', 'gpu', 'staging-dir', 'proxy', 'no-proxy'],
  },
}

const MACHINE_SUBCOMMANDS = ['create', 'start', 'stop', 'delete', 'rm', 'status', 'ls', 'list', 'exec', 'cp']
const MACHINE_NOT_EMULATED = ['run', 'fork', 'fork-release', 'egress-events', 'resize', 'update', 'images', 'prune', 'shell', 'sh', 'monitor', 'network-test', 'data-dir']
const PACK_NOT_EMULATED = ['run', 'push', 'pull', 'inspect', 'prune']

// --- machine records -------------------------------------------------------------------------

const containerName = (name) => `${PREFIX}${name}`

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

function json(text, fallback) {
  try {
    return text === undefined || text === '' ? fallback : JSON.parse(text)
  } catch {
    return fallback
  }
}

function recordOf(c) {
  const L = c?.Config?.Labels ?? {}
  if (!c || L[LABEL] !== 'smolvm' || !L['smolvm.name']) return null
  const state = stateOf(c.State)
  return {
    name: L['smolvm.name'],
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
    mounts: Number(L['smolvm.mounts'] ?? 0),
    ports: Number(L['smolvm.ports'] ?? 0),
    entrypoint: json(L['smolvm.entrypoint'], []),
    cmd: json(L['smolvm.cmd'], []),
    env: json(L['smolvm.env'], []),
    workdir: L['smolvm.workdir'] || null,
    source: L['smolvm.source_smolmachine'] || null,
    remapUid: L['smolvm.remap_uid'] ? Number(L['smolvm.remap_uid']) : null,
    ownedImage: L['smolvm.owned_image'] || null,
    imageId: c.Image,
  }
}

function getMachine(name) {
  const rec = recordOf(inspect(containerName(name), 'container'))
  return rec && rec.name === name ? rec : null
}

function listMachines() {
  const ids = docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABEL}=smolvm`])
  if (ids.code !== 0) fail(`list machines: ${cleanDockerMessage(ids.stderr)}`)
  const list = ids.stdout.split('\n').filter(Boolean)
  if (list.length === 0) return []
  const r = docker(['container', 'inspect', ...list])
  // a container removed between ps and inspect makes inspect fail for all: retry one by one
  const objs = r.code === 0 ? json(r.stdout, []) : list.map((id) => inspect(id, 'container')).filter(Boolean)
  return objs
    .map(recordOf)
    .filter(Boolean)
    .sort((a, b) => a.name.localeCompare(b.name))
}

function jsonOf(m) {
  return {
    name: m.name,
    state: m.state,
    cpus: m.cpus,
    memory_mib: m.mem,
    pid: m.pid,
    mounts: m.mounts,
    ports: m.ports,
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

function validateName(name) {
  if (name.length === 0) fail('machine name cannot be empty')
  if (name.length > 128) fail(`machine name too long (${name.length} characters, max 128)`)
  if (!/^[A-Za-z0-9]/.test(name)) fail(`machine name '${name}' must start with a letter or digit`)
  const bad = /[^A-Za-z0-9_-]/.exec(name)
  if (bad) fail(`machine name '${name}' contains invalid character '${bad[0]}' (allowed: letters, digits, '_' and '-')`)
  if (name.includes('--')) fail(`machine name '${name}' cannot contain '--'`)
  if (name.endsWith('-')) fail(`machine name '${name}' cannot end with '-'`)
}

function generateName() {
  return `vm-${randomBytes(4).toString('hex')}`
}

function parseKeyValue(spec, what) {
  const eq = spec.indexOf('=')
  if (eq <= 0) fail(`invalid ${what} format '${spec}': expected KEY=VALUE`)
  return [spec.slice(0, eq), spec.slice(eq + 1)]
}

function imageExists(ref) {
  return docker(['image', 'inspect', '--format', '{{.Id}}', ref]).code === 0
}

/** docker rmi (untag) without force: fails harmlessly while a container still uses the image. */
function releaseImage(ref) {
  if (ref) docker(['image', 'rm', ref])
}

function isLocalImagePath(ref) {
  return ref === '-' || ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || /\.tar(\.gz)?$/.test(ref)
}

/** `docker pull` REF from its registry (always asks the registry). Returns { id, pulledTag }. */
function pullImage(ref) {
  const existed = imageExists(ref)
  const r = docker(['pull', '-q', ref])
  if (r.code !== 0) fail(`failed to pull image '${ref}': ${cleanDockerMessage(r.stderr) || `docker pull exited ${r.code}`}`)
  const id = docker(['image', 'inspect', '--format', '{{.Id}}', ref]).stdout.trim()
  if (!id) fail(`failed to pull image '${ref}': not found after pull`)
  return { id, pulledTag: existed ? null : ref }
}

async function dockerLoadFrom(stdinSource) {
  let out = ''
  let err = ''
  const r = await dockerSpawn(typeof stdinSource === 'string' ? ['load', '-i', stdinSource] : ['load'], {
    stdio: [typeof stdinSource === 'string' ? 'ignore' : 'inherit', 'pipe', 'pipe'],
    onSpawn: (child) => {
      child.stdout.on('data', (c) => (out += c))
      child.stderr.on('data', (c) => (err += c))
    },
  })
  if (r.code !== 0) fail(`load image archive: ${cleanDockerMessage(err) || `docker load exited ${r.code}`}`)
  const byId = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(out)
  if (byId) return byId[1]
  const byRef = /Loaded image: (\S+)/g
  let last = null
  for (const m of out.matchAll(byRef)) last = m[1]
  if (last) return docker(['image', 'inspect', '--format', '{{.Id}}', last]).stdout.trim()
  fail('load image archive: docker load reported no image')
}

const shortId = (id) => String(id).replace(/^sha256:/, '').slice(0, 12)

// --- machine create ----------------------------------------------------------------------------

async function cmdCreate(argv) {
  const { opts, rest } = parse(SPECS.create, argv)
  const name = opts.name ?? generateName()
  validateName(name)
  if (inspect(containerName(name), 'container')) fail(`machine '${name}' already exists or is being created`)
  const labels = Object.fromEntries((opts.label ?? []).map((l) => parseKeyValue(l, 'label')))
  const env = (opts.env ?? []).map((e) => parseKeyValue(e, 'env').join('='))
  const volumes = (opts.volume ?? []).map(parseVolume)
  const ports = opts.port ?? []
  const cliCpus = opts.cpus ?? DEFAULT_CPUS
  const cliMem = opts.mem ?? DEFAULT_MEM
  if (cliCpus === 0) fail('invalid resources: cpus must be at least 1')
  if (cliMem === 0) fail('invalid resources: memory must be at least 1 MiB')

  let dockerImage
  let recordImage = null
  let owned = null
  let entrypoint = []
  let cmd = rest
  let cpus = cliCpus
  let mem = cliMem
  let network = Boolean(opts.net)
  let workdir = opts.workdir ?? null
  let recordEnv = env
  const extraLabels = {}

  if (opts.from !== undefined) {
    const path = resolve(opts.from)
    if (!existsSync(path) || !statSync(path).isFile()) fail(`file not found: ${opts.from}`)
    let artifact
    try {
      artifact = readArtifact(path)
    } catch (err) {
      if (err instanceof ArtifactError) fail(`read .smolmachine: ${err.message}`)
      throw err
    }
    const m = artifact.manifest
    say('Extracting .smolmachine assets...')
    let id
    try {
      id = await loadArtifactImage(path, artifact)
    } catch (err) {
      fail(`extract sidecar: ${err.message}`)
    }
    owned = `smolvm-emulator/pack:${shortId(id)}`
    const t = docker(['tag', id, owned])
    if (t.code !== 0) fail(`extract sidecar: ${cleanDockerMessage(t.stderr)}`)
    dockerImage = owned
    recordImage = m.image || null
    cpus = cliCpus !== DEFAULT_CPUS ? cliCpus : (m.cpus ?? DEFAULT_CPUS)
    mem = cliMem !== DEFAULT_MEM ? cliMem : (m.mem ?? DEFAULT_MEM)
    network = Boolean(m.network) || Boolean(opts.net)
    if (rest.length > 0) {
      entrypoint = []
      cmd = rest
    } else {
      entrypoint = m.entrypoint ?? []
      cmd = m.cmd ?? []
    }
    workdir = null // smolvm uses the pack's workdir (the image's) and ignores -w with --from
    recordEnv = [...(m.env ?? []), ...env]
    extraLabels['smolvm.source_smolmachine'] = path
    extraLabels['smolvm.remap_uid'] = String(REMAP_UID)
    if (m.workdir) extraLabels['smolvm.workdir'] = m.workdir
  } else if (opts.image !== undefined) {
    const ref = opts.image
    if (ref === '-') {
      const id = await dockerLoadFrom(null)
      owned = `smolvm-emulator/local:${shortId(id)}`
      docker(['tag', id, owned])
      dockerImage = owned
      recordImage = `local:${id}`
    } else if (isLocalImagePath(ref) && existsSync(ref)) {
      if (statSync(ref).isDirectory()) throw new NotEmulatedError(`--image with a rootfs directory ('${ref}') is not emulated`)
      const id = await dockerLoadFrom(resolve(ref))
      owned = `smolvm-emulator/local:${shortId(id)}`
      docker(['tag', id, owned])
      dockerImage = owned
      recordImage = `local:${id}`
    } else if (isLocalImagePath(ref)) {
      fail(`image archive not found: ${ref}`)
    } else {
      // real smolvm pulls inside the VM at `start`; the emulator pulls now (the container needs it),
      // so a missing image is reported by create instead of start.
      const { id, pulledTag } = pullImage(ref)
      dockerImage = id
      recordImage = ref
      owned = pulledTag
    }
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
    'smolvm.mounts': String(volumes.length),
    'smolvm.ports': String(ports.length),
    'smolvm.entrypoint': JSON.stringify(entrypoint),
    'smolvm.cmd': JSON.stringify(cmd),
    'smolvm.env': JSON.stringify(recordEnv),
    'smolvm.owned_image': owned ?? '',
    'smolvm.source_smolmachine': '',
    'smolvm.remap_uid': '',
    'smolvm.workdir': '',
    ...extraLabels,
  }).flatMap(([k, v]) => ['--label', `${k}=${v}`])
  const args = [
    'create',
    '--name',
    containerName(name),
    '--init',
    ...labelArgs,
    ...(network || ports.length > 0 ? [] : ['--network', 'none']),
    ...env.flatMap((e) => ['-e', e]),
    ...(workdir ? ['-w', workdir] : []),
    ...volumes.flatMap((v) => ['-v', v]),
    ...ports.flatMap((p) => ['-p', `${p.host}:${p.guest}`]),
    '--entrypoint',
    'sleep',
    dockerImage,
    'infinity',
  ]
  const r = docker(args)
  if (r.code !== 0) {
    if (/Conflict|already in use/i.test(r.stderr)) fail(`machine '${name}' already exists or is being created`)
    if (owned && opts.from === undefined) releaseImage(owned)
    fail(`create machine: ${cleanDockerMessage(r.stderr)}`)
  }
  say(`Created machine: ${name}`)
  say(`  CPUs: ${cpus}, Memory: ${mem} MiB`)
  if (volumes.length > 0) say(`  Mounts: ${volumes.length}`)
  if (ports.length > 0) say(`  Ports: ${ports.length}`)
  say(`\nUse 'smolvm machine start --name ${name}' to start the machine`)
  say(`Then use 'smolvm machine exec --name ${name} -- <command>' to run commands`)
}

function parseVolume(spec) {
  const parts = spec.split(':')
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '' || (parts.length === 3 && parts[2] !== 'ro')) {
    fail(`invalid mount path: expected HOST:GUEST[:ro], got '${spec}'`)
  }
  const host = resolve(parts[0])
  if (!existsSync(host)) fail(`mount source not found: ${host}`)
  if (!parts[1].startsWith('/')) fail(`invalid mount path: guest path must be absolute, got '${parts[1]}'`)
  return `${host}:${parts[1]}${parts[2] === 'ro' ? ':ro' : ''}`
}

// --- start / stop / delete / status / ls ---------------------------------------------------------

async function startMachine(m) {
  const mountInfo = m.mounts > 0 ? ` with ${m.mounts} mount(s)` : ''
  const portInfo = m.ports > 0 ? ` and ${m.ports} port mapping(s)` : ''
  say(`Starting machine '${m.name}'${mountInfo}${portInfo}...`)
  const r = docker(['start', m.container])
  if (r.code !== 0) fail(`start machine: ${cleanDockerMessage(r.stderr)}`)
  if (m.remapUid !== null && m.neverStarted) {
    // Emulates smolvm's pack step remapping file owners to the host uid (501 on macOS).
    const u = m.remapUid
    docker(['exec', '-u', '0', m.container, 'sh', '-c', `chown -R ${u}:${u} /home /tmp /var/tmp 2>/dev/null; exit 0`])
  }
  const workload = [...m.entrypoint, ...m.cmd]
  if (workload.length > 0) {
    const w = docker(['exec', '-d', m.container, ...workload])
    if (w.code !== 0) warn(`warning: failed to start the machine's workload: ${cleanDockerMessage(w.stderr)}`)
  }
  const after = getMachine(m.name)
  say(`Machine '${m.name}' running (PID: ${after?.pid ?? 0})`)
}

async function cmdStart(argv) {
  const { opts } = parse(SPECS.start, argv)
  const name = opts.name ?? 'default'
  let m = getMachine(name)
  if (!m) {
    if (opts.name !== undefined) fail(`vm not found: ${name}`)
    // no --name and no "default" machine: smolvm starts a bare default VM
    await cmdCreateQuiet('default')
    m = getMachine('default')
    if (!m) fail('vm not found: default')
  }
  if (m.running) {
    say(`Machine '${name}' already running (PID: ${m.pid})`)
    return
  }
  await startMachine(m)
}

async function cmdCreateQuiet(name) {
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = () => true
  try {
    await cmdCreate(['--name', name])
  } finally {
    process.stdout.write = write
  }
}

function stopContainer(m) {
  const r = docker(['stop', '-t', '10', m.container])
  if (r.code !== 0) fail(`stop machine: ${cleanDockerMessage(r.stderr)}`)
}

async function cmdStop(argv) {
  const { opts } = parse(SPECS.stop, argv)
  const name = opts.name ?? 'default'
  const m = getMachine(name)
  if (!m) {
    if (opts.name === undefined) {
      say("Stopping machine 'default'...")
      say("Machine 'default' stopped")
    } else {
      say(`Machine '${name}' not found or not running`)
    }
    return
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
      if (err.code === 'EAGAIN') {
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

async function cmdDelete(argv) {
  const { opts } = parse(SPECS.delete, argv)
  const name = opts.name
  const m = getMachine(name)
  if (!m) fail(`vm not found: ${name}`)
  if (m.running) {
    // smolvm stops a running machine before it asks (stop_if_running), even if the answer is no
    say(`Stopping machine '${name}'...`)
    stopContainer(m)
  }
  if (!opts.force) {
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

async function cmdStatus(argv) {
  const { opts } = parse(SPECS.status, argv)
  const name = opts.name ?? 'default'
  const m = getMachine(name)
  if (opts.json) {
    if (!m) fail(`vm not found: ${name}`)
    say(JSON.stringify(jsonOf(m), null, 2))
    return
  }
  if (m && m.running) say(`Machine '${name}': running (PID: ${m.pid})`)
  else say(`Machine '${name}': not running`)
}

async function cmdLs(argv) {
  const { opts } = parse(SPECS.ls, argv)
  const machines = listMachines()
  if (opts.json) {
    say(machines.length === 0 ? '[]' : JSON.stringify(machines.map(jsonOf), null, 2))
    return
  }
  if (machines.length === 0) {
    say('No machines found')
    return
  }
  const row = (cols) => `${cols[0].padEnd(20)} ${cols[1].padEnd(12)} ${cols[2].padStart(5)} ${cols[3].padStart(10)} ${cols[4].padStart(7)} ${cols[5].padStart(7)}`
  say(row(['NAME', 'STATE', 'CPUS', 'MEMORY', 'MOUNTS', 'PORTS']))
  say('-'.repeat(66))
  for (const m of machines) {
    const shown = m.name.length > 18 ? `${m.name.slice(0, 15)}...` : m.name
    say(row([shown, m.state, String(m.cpus), `${m.mem} MiB`, String(m.mounts), String(m.ports)]))
    if (opts.verbose) {
      if (m.pid) say(`  PID: ${m.pid}`)
      if (m.network) say('  Network: enabled')
      for (const e of m.env) say(`  Env: ${e}`)
      if (m.workdir) say(`  Workdir: ${m.workdir}`)
      if (m.image) say(`  Image: ${m.image}`)
      for (const [k, v] of Object.entries(m.labels)) say(`  Label: ${k}=${v}`)
      say(`  Created: ${m.createdAt}`)
      say('')
    }
  }
}

// --- exec ---------------------------------------------------------------------------------------

const busyDir = () => process.env.SMOLVM_EMULATOR_BUSY_DIR || '/tmp'
const busyMarker = (name) => join(busyDir(), `smolvm-emulator-busy-${name}`)

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

function isBusy(name) {
  const names = (process.env.SMOLVM_EMULATOR_BUSY ?? '').split(/[\s,]+/).filter(Boolean)
  if (names.includes(name)) return true
  let content
  try {
    content = readFileSync(busyMarker(name), 'utf8')
  } catch {
    return false
  }
  const own = /^smolvm-emulator-session pid=(\d+)/.exec(content)
  if (own && !pidAlive(Number(own[1]))) return false // stale marker of a session that died
  return true
}

function checkReachable(name, explicit) {
  const m = getMachine(name)
  if (!m || !m.running) {
    const hint = explicit ? `smolvm machine start --name ${name}` : 'smolvm machine start'
    fail(`machine '${name}' is not running. Use '${hint}' first.`)
  }
  if (isBusy(name)) {
    // The real limit (upstream notes: "smolvm may reject a second exec while -i -t is active").
    fail(`agent operation failed: connect: machine '${name}' is busy: an interactive session is attached and the agent does not accept a concurrent exec`)
  }
  return m
}

function formatDuration(ms) {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

async function cmdExec(argv) {
  const { opts, rest } = parse(SPECS.exec, argv)
  const name = opts.name ?? 'default'
  const m = checkReachable(name, opts.name !== undefined)
  const env = (opts.env ?? []).map((e) => parseKeyValue(e, 'env').join('='))
  const interactive = Boolean(opts.interactive || opts.tty)
  const execId = randomBytes(8).toString('hex')
  const dockerArgs = [
    'exec',
    '-u',
    '0',
    ...(opts.interactive ? ['-i'] : []),
    ...(opts.tty && process.stdin.isTTY ? ['-t'] : []),
    ...env.flatMap((e) => ['-e', e]),
    ...(opts.timeout !== undefined ? ['-e', `SMOLVM_EMULATOR_EXEC_ID=${execId}`] : []),
    ...(opts.workdir ? ['-w', opts.workdir] : []),
    m.container,
    ...rest,
  ]

  // an interactive terminal session marks the machine busy for its duration
  let marker = null
  if (opts.interactive && opts.tty) {
    try {
      writeFileSync(busyMarker(name), `smolvm-emulator-session pid=${process.pid}\n`, { flag: 'wx' })
      marker = busyMarker(name)
    } catch {
      /* another session got there first: carry on like the first session */
    }
  }
  const stdout = []
  const stderr = []
  let child = null
  let timedOut = false
  let timer = null
  const buffered = !interactive && !opts.stream
  const onSignal = (sig) => {
    if (child) child.kill(sig)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await dockerSpawn(dockerArgs, {
      stdio: [opts.interactive ? 'inherit' : 'ignore', buffered ? 'pipe' : 'inherit', buffered ? 'pipe' : 'inherit'],
      onSpawn: (c) => {
        child = c
        if (buffered) {
          c.stdout.on('data', (d) => stdout.push(d))
          c.stderr.on('data', (d) => stderr.push(d))
        }
        if (opts.timeout !== undefined) {
          timer = setTimeout(() => {
            timedOut = true
            killGuestExec(m.container, execId)
            c.kill('SIGKILL')
          }, opts.timeout)
        }
      },
    })
    if (timer) clearTimeout(timer)
    if (buffered) {
      await writeAll(process.stdout, Buffer.concat(stdout))
      await writeAll(process.stderr, Buffer.concat(stderr))
    }
    if (timedOut) {
      warn(`Error: command timed out after ${formatDuration(opts.timeout)}`)
      process.exitCode = 124
      return
    }
    if (result.error) fail(`vm exec: ${result.error.message}`)
    process.exitCode = result.code ?? 128 + (osConstants.signals[result.signal] ?? 9)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (marker) rmSync(marker, { force: true })
  }
}

function killGuestExec(container, execId) {
  // every guest process started by this exec carries the marker variable: SIGKILL them all at once
  const script = `pids=; for p in /proc/[0-9]*; do if tr '\\000' '\\n' < "$p/environ" 2>/dev/null | grep -qx 'SMOLVM_EMULATOR_EXEC_ID=${execId}'; then pids="$pids \${p#/proc/}"; fi; done; [ -n "$pids" ] && kill -9 $pids 2>/dev/null; exit 0`
  docker(['exec', '-u', '0', container, 'sh', '-c', script])
}

function writeAll(stream, buf) {
  if (buf.length === 0) return Promise.resolve()
  return new Promise((res) => stream.write(buf, () => res()))
}

// --- cp -----------------------------------------------------------------------------------------

async function cmdCp(argv) {
  const { positionals } = parse(SPECS.cp, argv)
  const [src, dst] = positionals
  const split = (s) => {
    const i = s.indexOf(':')
    return i === -1 ? null : { name: s.slice(0, i), path: s.slice(i + 1) }
  }
  const rs = split(src)
  const rd = split(dst)
  if (rs && rd) fail('exactly one of SRC or DST must use machine:path syntax (copying between two machines is not supported)')
  if (!rs && !rd) fail('one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)')
  const remote = rs ?? rd
  if (remote.name === '') fail(`invalid machine:path '${rs ? src : dst}': empty machine name`)
  const m = checkReachable(remote.name, true)
  if (!remote.path.startsWith('/')) fail(`guest path must be absolute: '${remote.path}'`)
  if (rd) await upload(m, src, rd.path)
  else await download(m, rs.path, dst)
}

async function upload(m, localPath, guestPath) {
  let st
  try {
    st = statSync(localPath)
  } catch {
    fail(`read local file: ${localPath}: No such file or directory (os error 2)`)
  }
  if (st.isDirectory()) fail(`read local file: ${localPath}: Is a directory (os error 21) — machine cp copies single files only`)
  if (!st.isFile()) fail(`read local file: ${localPath}: not a regular file`)
  const target = posix.normalize(guestPath)
  if (target === '/' || guestPath.endsWith('/')) fail(`write file: ${guestPath}: Is a directory (os error 21)`)
  const parent = posix.dirname(target)
  const base = posix.basename(target)
  const probe = docker(['exec', '-u', '0', m.container, 'test', '-d', target])
  if (probe.code === 0) fail(`write file: ${guestPath}: Is a directory (os error 21)`)
  // One regular-file entry owned by root (smolvm's default upload owner), extracted into PARENT.
  let err = ''
  const r = await dockerSpawn(['cp', '-', `${m.container}:${parent}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
    onSpawn: (child) => {
      child.stderr.on('data', (c) => (err += c))
      child.stdin.on('error', () => {})
      const header = entryHeader({ name: base, size: st.size, mode: st.mode & 0o777, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000) })
      child.stdin.write(header)
      const rsm = createReadStream(localPath)
      rsm.pipe(child.stdin, { end: false })
      rsm.on('end', () => {
        child.stdin.write(padding(st.size))
        child.stdin.end(endOfArchive())
      })
      rsm.on('error', () => child.stdin.end())
    },
  })
  if (r.code !== 0) fail(`write file: ${guestPath}: ${cleanDockerMessage(err) || `docker cp exited ${r.code}`}`)
}

async function download(m, guestPath, localPath) {
  const dest = resolve(localPath)
  if (existsSync(dest) && statSync(dest).isDirectory()) fail(`write local file: ${localPath}: Is a directory (os error 21)`)
  if (!existsSync(dirname(dest))) fail(`write local file: ${localPath}: No such file or directory (os error 2)`)
  const tmp = `${dest}.smolvm-cp-${process.pid}-${randomBytes(3).toString('hex')}`
  let err = ''
  let problem = null
  let wrote = false
  let sawEntry = false
  let child = null
  const done = dockerSpawn(['cp', '-L', `${m.container}:${guestPath}`, '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    onSpawn: (c) => {
      child = c
      c.stderr.on('data', (d) => (err += d))
    },
  })
  try {
    await readTarStream(child.stdout, async (entry) => {
      if (sawEntry) return null
      sawEntry = true
      if (entry.type === '5') {
        problem = `read file: ${guestPath}: Is a directory (os error 21) — machine cp copies single files only`
        return null
      }
      if (entry.type !== '0' && entry.type !== '7') {
        problem = `read file: ${guestPath}: not a regular file`
        return null
      }
      const ws = createWriteStream(tmp)
      wrote = true
      return {
        write: (b) => (ws.write(b) ? undefined : once(ws, 'drain')),
        end: async () => {
          ws.end()
          await once(ws, 'finish')
        },
      }
    })
  } catch (e) {
    if (!problem) problem = `read file: ${guestPath}: ${e.message}`
  }
  child.stdout.resume()
  const r = await done
  if (r.code !== 0) {
    rmSync(tmp, { force: true })
    const msg = cleanDockerMessage(err)
    if (/Could not find the file|No such container:path|not found/i.test(msg)) fail(`read file: ${guestPath}: No such file or directory (os error 2)`)
    fail(`read file: ${guestPath}: ${msg || `docker cp exited ${r.code}`}`)
  }
  if (problem || !wrote) {
    rmSync(tmp, { force: true })
    fail(problem ?? `read file: ${guestPath}: nothing copied`)
  }
  renameSync(tmp, dest)
}

// --- pack create --------------------------------------------------------------------------------

async function cmdPackCreate(argv) {
  const { opts } = parse(SPECS.packCreate, argv)
  if (opts.image === undefined && opts['from-vm'] === undefined) {
    throw new UsageError('the following required arguments were not provided:\n  --image <IMAGE>', SPECS.packCreate)
  }
  const output = opts.output
  if (output.endsWith(SIDECAR_EXTENSION)) {
    fail(`output path must not end in ${SIDECAR_EXTENSION}: '${output}' (pack writes the launcher PATH and the artifact PATH${SIDECAR_EXTENSION}; use -o ${output.slice(0, -SIDECAR_EXTENSION.length) || 'NAME'})`)
  }
  const out = resolve(output)
  if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) fail(`pack binary: No such file or directory (os error 2): ${dirname(output)}`)
  if (existsSync(out) && statSync(out).isDirectory()) fail(`pack binary: Is a directory (os error 21): ${output}`)
  const cpus = opts.cpus ?? DEFAULT_CPUS
  const mem = opts.mem ?? DEFAULT_MEM
  const entrypointOverride = opts.entrypoint !== undefined ? opts.entrypoint.split(/\s+/).filter(Boolean) : null
  const created = Math.floor(Date.now() / 1000)

  let manifest
  let imageId
  let cleanup = () => {}
  if (opts.image !== undefined) {
    const ref = opts.image
    if (isLocalImagePath(ref)) fail(`pack create --image takes a registry reference, not a local archive: '${ref}' (push the image to a registry first)`)
    const { id, pulledTag } = pullImage(ref)
    cleanup = () => releaseImage(pulledTag)
    imageId = id
    const info = inspect(id, 'image')
    const repo = ref.replace(/@.*$/, '').replace(/:[^/:]+$/, '')
    const digest = (info.RepoDigests ?? []).find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? ''
    say(`Image: ${ref} (${info.RootFS?.Layers?.length ?? 0} layers, ${info.Size ?? 0} bytes)`)
    manifest = baseManifest(info, { image: ref, digest, cpus, mem, network: false, entrypointOverride, created, source: { kind: 'image', ref } })
  } else {
    const vmName = opts['from-vm']
    const m = getMachine(vmName)
    if (!m) fail(`VM '${vmName}' not found`)
    if (m.running) fail(`VM '${vmName}' is running. Stop it first with: smolvm machine stop --name ${vmName}`)
    say(`Packing VM '${vmName}' snapshot...`)
    const original = inspect(m.imageId, 'image')
    const ep = original?.Config?.Entrypoint ?? []
    const cm = original?.Config?.Cmd ?? []
    const c = docker(['commit', '--change', `ENTRYPOINT ${JSON.stringify(ep)}`, '--change', `CMD ${JSON.stringify(cm)}`, m.container])
    if (c.code !== 0) fail(`pack from VM: ${cleanDockerMessage(c.stderr)}`)
    imageId = c.stdout.trim()
    cleanup = () => releaseImage(imageId)
    const info = inspect(imageId, 'image')
    const entrypoint = entrypointOverride ?? (m.entrypoint.length > 0 ? m.entrypoint : ['/bin/sh'])
    manifest = baseManifest(info, { image: m.image ?? `vm://${vmName}`, digest: '', cpus, mem, network: m.network, entrypointOverride: entrypoint, created, source: { kind: 'vm', name: vmName } })
    manifest.cmd = m.cmd
  }
  try {
    const { sidecar, size } = await writeArtifact(out, imageId, manifest)
    writeLauncher(out, manifest)
    const stub = statSync(out).size
    say(`Packed: ${output} (stub: ${Math.floor(stub / 1024)}KB, total: ${Math.floor((stub + size) / 1024)}KB)`)
    say(`Assets: ${output}${SIDECAR_EXTENSION} (${Math.floor(statSync(sidecar).size / 1024)}KB compressed)`)
    say(`\nRun with: ${output}`)
    say('Note: Keep the .smolmachine file alongside the binary')
    say('Options: --help for usage')
  } catch (err) {
    if (err instanceof SmolError) throw err
    fail(`pack binary: ${err.message}`)
  } finally {
    cleanup()
  }
}

function baseManifest(info, { image, digest, cpus, mem, network, entrypointOverride, created, source }) {
  const cfg = info.Config ?? {}
  return {
    format: 'smolvm-emulator-pack',
    format_version: 1,
    mode: 'container',
    image,
    digest,
    image_id: info.Id,
    platform: `${info.Os ?? 'linux'}/${info.Architecture ?? 'amd64'}`,
    cpus,
    mem,
    network,
    entrypoint: entrypointOverride ?? cfg.Entrypoint ?? [],
    cmd: cfg.Cmd ?? [],
    env: cfg.Env ?? [],
    workdir: cfg.WorkingDir || null,
    user: cfg.User || null,
    created_at: created,
    source,
  }
}

// --- dispatch -----------------------------------------------------------------------------------

const TOP_SPEC = { path: '', usage: '<COMMAND>', options: [] }
const MACHINE_SPEC = { path: 'machine', usage: '<COMMAND>', options: [] }
const PACK_SPEC = { path: 'pack', usage: '<COMMAND>', options: [] }

function topHelp() {
  return `smolvm ${VERSION} — bottle-tasks emulator (Docker underneath)

Usage: smolvm <COMMAND>

Commands:
  machine  Manage machines (create, start, stop, delete|rm, ls|list, status, exec, cp)
  pack     Package machines (create)

Options:
  -h, --help     Print help
  -V, --version  Print version
`
}

async function main(argv) {
  const [cmd, sub, ...rest] = argv
  if (cmd === undefined) {
    process.stderr.write(topHelp())
    return 2
  }
  if (cmd === '-V' || cmd === '--version') {
    say(`smolvm ${VERSION}`)
    return 0
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(topHelp())
    return 0
  }
  if (cmd === 'machine') {
    if (sub === undefined || sub === '-h' || sub === '--help') {
      const text = `Manage machines\n\nUsage: smolvm machine <COMMAND>\n\nCommands: ${MACHINE_SUBCOMMANDS.join(', ')}\n`
      if (sub === undefined) {
        process.stderr.write(text)
        return 2
      }
      process.stdout.write(text)
      return 0
    }
    const table = { create: ['create', cmdCreate], start: ['start', cmdStart], stop: ['stop', cmdStop], delete: ['delete', cmdDelete], rm: ['delete', cmdDelete], status: ['status', cmdStatus], ls: ['ls', cmdLs], list: ['ls', cmdLs], exec: ['exec', cmdExec], cp: ['cp', cmdCp] }
    const entry = table[sub]
    if (!entry) {
      if (MACHINE_NOT_EMULATED.includes(sub)) throw new NotEmulatedError(`'smolvm machine ${sub}' is a real smolvm command that this emulator does not implement`)
      throw new UsageError(`unrecognized subcommand '${sub}'`, MACHINE_SPEC)
    }
    await entry[1](rest)
    return process.exitCode ?? 0
  }
  if (cmd === 'pack') {
    if (sub === 'create') {
      await cmdPackCreate(rest)
      return 0
    }
    if (sub === undefined) {
      process.stderr.write('Package and run self-contained VM executables\n\nUsage: smolvm pack <COMMAND>\n\nCommands: create\n')
      return 2
    }
    if (PACK_NOT_EMULATED.includes(sub)) throw new NotEmulatedError(`'smolvm pack ${sub}' is a real smolvm command that this emulator does not implement`)
    throw new UsageError(`unrecognized subcommand '${sub}'`, PACK_SPEC)
  }
  throw new UsageError(`unrecognized subcommand '${cmd}'`, TOP_SPEC)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code ?? process.exitCode ?? 0
  },
  (err) => {
    if (err instanceof HelpRequested) {
      process.stdout.write(helpText(err.spec))
      process.exitCode = 0
    } else if (err instanceof UsageError) {
      process.stderr.write(clapError(err.spec, err.message))
      process.exitCode = 2
    } else if (err instanceof NotEmulatedError) {
      process.stderr.write(`Error: smolvm emulator: ${err.message} (not emulated)\n`)
      process.exitCode = 1
    } else if (err instanceof SmolError) {
      process.stderr.write(`Error: ${err.message}\n`)
      process.exitCode = err.code
    } else {
      process.stderr.write(`Error: smolvm emulator internal error: ${err?.stack ?? err}\n`)
      process.exitCode = 1
    }
  },
)
