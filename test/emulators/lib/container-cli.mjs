// @ts-check
// Emulator of Apple's `container` CLI (1.2.x) for Linux test machines: the real grammar, refused
// where the real tool refuses, with the work done by Docker underneath (lib/container-docker.mjs).
// Only what bottle-tasks' macos-container backend uses is emulated; other real subcommands and
// options fail with "not supported by this emulator" so a test never passes by accident.
// Behaviour and where it comes from (apple/container; paths under Sources/ unless said).
// Cited as at tag 1.2.0. The search index these were read from ties no copy to that tag, so each
// citation names the copy read: "@abc1234" an apple/container commit; "@Y:dd1b17a" is
// Yesh2344/mac-container-tool at dd1b17a, a renamed copy of upstream 1.x (ContainerClient,
// ManagedContainer, withoutMachines; containerization 0.33.4), used where upstream's stored copy of a
// file predates 1.0. Check the wording against the 1.2.0 tag before relying on an exact message.
//   run: options as Services/ContainerAPIService/Client/Flags.swift declares them (Process,
//     Resource, Management); values parsed as Client/Parser.swift does (lib/container-parse.mjs):
//     --label/-l splits on "=" and refuses a value holding another "=" (Parser.labels);
//     -c/--cpus (Flags.Resource.cpus: Int64, no range check; Parser.resources @0f12ad1 copies it to
//     resources.cpus as given), -m/--memory (Measurement, whole MiB: Parser.resources), -v/--volume,
//     --mount, --tmpfs (Parser.volume/mount/tmpfsMounts + validateMount), --network
//     NAME[,mac=][,mtu=] repeatable, "none" only alone, each network must exist
//     (Client/Utility.containerConfigFromFlags); a named volume that does not exist is created,
//     with a warning (Utility.getOrCreateVolume). Names: ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$, ≤ 63.
//     The command is ENTRYPOINT + (arguments, or CMD unless --entrypoint was given): Parser.process.
//     -d/--detach starts the process with no stdin: a container whose command is a shell exits at
//     once (Tests/IntegrationTests/Containers/TestCLIExecCommand.swift, testExecOnExitingContainer;
//     the suite's own long-running containers run `sleep infinity`). -t gives it a terminal.
//     Without --rm a stopped container is kept (list -a shows it).
//   exec: ContainerCommands/Container/ContainerExec.swift, Application.ContainerExec.run (@Y:dd1b17a):
//     Flags.Process options and -d/--detach, then @Argument containerId and `arguments` with
//     .captureForPassthrough (swift-argument-parser Argument.swift: option parsing stops at the first
//     positional, so every word after the ID is the process's); ContainerClient.get refuses an unknown
//     ID ("get failed: container ID not found"); Application.ensureRunning(container:) in
//     Container/ProcessUtils.swift refuses a stopped one ("container ID is not running"); -d prints
//     the ID; otherwise the exit status is the process's (`throw ArgumentParser.ExitCode(exitCode)`).
//   start: ContainerStart.swift, Application.ContainerStart.run (@Y:dd1b17a): -a/--attach,
//     -i/--interactive; already running: prints the ID, or with -a/-i fails ("attach is currently
//     unsupported on already running containers"); a virtiofs mount whose source is gone fails;
//     otherwise ContainerClient.bootstrap + start, printing the ID when detached.
//   stop: ContainerStop.swift, Application.ContainerStop (@Y:dd1b17a): validate() refuses no IDs
//     without --all and IDs with --all; -s/--signal (none given: the image's stop signal,
//     ContainersService.stop), -t/--time Int32 = 5; ContainersService.stop (Services/ContainerAPIService/
//     Server/Containers/ContainersService.swift @00223ad): a stopped container is a no-op (its ID is
//     printed), an unknown ID fails ("container with ID X not found"); failures are printed together
//     (ContainerCommands/AggregateError.swift), exit 1. A --rm container is removed before stop
//     returns (ContainersService.handleContainerExit → cleanUp).
//   delete/rm: ContainerDelete.swift, Application.ContainerDelete (@Y:dd1b17a): -a/--all, -f/--force;
//     validate() as stop's; --all skips running containers unless -f; IDs de-duplicated;
//     ContainersService.delete (@00223ad): running without -f fails ("container X is running and can
//     not be deleted"), unknown fails ("container with ID X not found"); deleted IDs printed,
//     failures aggregated, exit 1.
//   list/ls: ContainerList.swift, Application.ContainerList.run (@Y:dd1b17a): -a/--all, -q/--quiet,
//     --format ListFormat (ContainerCommands/ListFormat.swift @a15a41e: json|table|yaml|toml); without
//     -a only status running (ContainerListFilters(status:)); Output.render (ContainerCommands/
//     OutputRendering.swift @f44b7bc): json/yaml/toml print the payload whatever -q says; table is
//     header + rows, -q the IDs, nothing at all for an empty -q list (Output.emit). Rows:
//     Container/ManagedContainer+ListDisplayable.swift @99c1b96. JSON: lib/container-render.mjs.
//   inspect: ContainerInspect.swift, Application.ContainerInspect.run (@Y:dd1b17a).
//     --read-only (Flags.Management.readOnly → configuration.readOnly); --dns (repeatable),
//     --dns-domain, --dns-search (repeatable), --dns-option (repeatable) → configuration.dns
//     {nameservers, domain?, searchDomains, options}, the values as given; --no-dns leaves dns out
//     and validate() refuses it with any DNS flag (Flags.swift @f44b7bc, Utility.containerConfigFromFlags,
//     ContainerResource/Container/ContainerConfiguration.swift DNSConfiguration).
//   Made strict from those sources: -c below 1 fails (upstream the CLI and API server accept it, then
//     the start fails: apple/containerization Sources/Containerization/LinuxContainer.swift @004ac12
//     gives the VM cpus + 1 vCPUs and writes the container's cgroup cpu.max as "<cpus*100000> 100000"
//     (generateRuntimeSpec), written as is by vminitd/Sources/Cgroup/Cgroup2Manager.swift @1a91899,
//     and Linux refuses a quota under 1 ms; negatives leave the VM 0 vCPUs, which VZ's
//     config.validate() refuses, VZVirtualMachineInstance.swift @02fa190). The emulator fails it at
//     run, with its own words. Memory under 200 MiB fails (ContainersService.create, apple/container
//     #1208: "minimum memory amount allowed is 200 MiB (got N bytes)"). start of a running container
//     prints its ID and -a/-i fail. inspect with any ID missing prints nothing and fails. stop/delete/
//     start/exec use the upstream error texts quoted above.
//   KNOWN DIFFERENCES still (none of which bottle-tasks relies on):
//     - more cpus than the host: upstream VZ's config.validate() refuses; the emulator records it.
//     - exec: a word after the ID that looks like an option is the process's executable upstream; the
//       emulator refuses it as a usage error (64), so a caller bug shows at once.
//     - stop/delete "no containers specified…" are ContainerizationErrors thrown from validate(), so
//       swift-argument-parser (MessageInfo) prints the message alone and exits 1, not 64 + usage.
//     - inspect prints compact JSON; upstream pretty (JSONOptions.pretty).
//     - list --format toml: Output.renderTOML wraps the array under "items"; the emulator writes
//       [[containers]].
//     - --dns-domain and --no-dns are recorded and printed but do not change the container's
//       resolv.conf (docker has no flag for either); --dns, --dns-search, --dns-option do.
//     - with no --dns, a real container's nameserver is its network's gateway (SandboxService
//       bootstrap); here it is docker's.
//   image …, build: lib/container-images.mjs.  network …, volume …: lib/container-resources.mjs.
// Docker underneath: a container is `apple-<ID>`; its configuration (labels, networks, mounts,
// resources) is kept in docker labels and printed in the real shapes (lib/container-render.mjs).
// cpus are enforced with docker --cpus when the host has that many (else only recorded), memory
// with docker --memory; virtiofs mounts are bind mounts, volumes docker volumes, tmpfs tmpfs.
import { randomUUID } from 'node:crypto'
import { cpus as hostCpus } from 'node:os'
import { CliError, EXIT_USAGE, HelpRequest, flag, option, parse, usageError } from './container-args.mjs'
import {
  EMULATOR_LABEL,
  LABELS,
  allContainers,
  docker,
  dockerName,
  dockerNetwork,
  dockerVolume,
  findContainer,
  inspectImage,
  inspectImages,
  isRunning,
  requireContainer,
  stream,
  waitGone,
} from './container-docker.mjs'
import { IMAGE_SUBCOMMANDS, build } from './container-images.mjs'
import { dedupe, memoryMiB, parseLabels, parseMount, parseNetwork, parseTmpfs, parseVolume } from './container-parse.mjs'
import { normalizeReference } from './container-reference.mjs'
import { containerJson, renderJSON, renderTable, renderTOML, renderYAML } from './container-render.mjs'
import { SUBCOMMANDS, createVolume, findNetwork, findVolume, networkIdOf } from './container-resources.mjs'

/** @typedef {import('./container-docker.mjs').DockerContainer} DockerContainer */
/** @typedef {import('./container-parse.mjs').Mount} Mount */
/** @typedef {import('./container-args.mjs').Command} Command */

const VERSION = 'container CLI version 1.2.0 (build: release, commit: emulator)'
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
/** @param {string} text */
const out = (text) => process.stdout.write(`${text}\n`)
const DEFAULT_CPUS = 4
const DEFAULT_MEMORY = 1024 * 1024 * 1024

// Real options of `run` that the emulator does not implement.
const RUN_UNSUPPORTED = ['--env-file', '--uid', '--gid', '-a', '--arch', '--cidfile', '-k', '--kernel', '--os', '-p',
  '--publish', '--platform', '--publish-socket', '--ssh', '--virtualization', '--scheme', '--progress', '--rosetta',
  '--max-concurrent-downloads']

const RUN_OPTIONS = [
  option('name', ['--name']),
  flag('detach', '-d', '--detach'),
  flag('remove', '--rm', '--remove'),
  option('network', ['--network'], { repeat: true }),
  option('env', ['-e', '--env'], { repeat: true }),
  option('entrypoint', ['--entrypoint'], { valueName: 'cmd' }),
  option('user', ['-u', '--user']),
  option('workdir', ['-w', '--workdir', '--cwd'], { valueName: 'dir' }),
  option('label', ['-l', '--label'], { repeat: true }),
  flag('interactive', '-i', '--interactive'),
  flag('tty', '-t', '--tty'),
  option('cpus', ['-c', '--cpus']),
  option('memory', ['-m', '--memory']),
  option('volume', ['-v', '--volume'], { repeat: true }),
  option('mount', ['--mount'], { repeat: true }),
  option('tmpfs', ['--tmpfs'], { repeat: true }),
  flag('readOnly', '--read-only'),
  option('dns', ['--dns'], { repeat: true, valueName: 'ip' }),
  option('dnsDomain', ['--dns-domain'], { valueName: 'domain' }),
  option('dnsSearch', ['--dns-search'], { repeat: true, valueName: 'domain' }),
  option('dnsOption', ['--dns-option'], { repeat: true, valueName: 'option' }),
  flag('noDns', '--no-dns'),
]

/**
 * The DNSConfiguration `container run` stores (Client/Utility.swift containerConfigFromFlags): the
 * flags' values as given (nameservers [] without --dns; no check that they are addresses), or none
 * at all with --no-dns, which Flags.Management.validate() refuses next to any DNS flag.
 * @param {{ strings: (key: string) => string[], string: (key: string) => string | undefined, flag: (key: string) => boolean }} parsed
 * @param {Command} command
 */
function dnsConfiguration(parsed, command) {
  const given = parsed.strings('dns').length + parsed.strings('dnsSearch').length + parsed.strings('dnsOption').length + (parsed.string('dnsDomain') === undefined ? 0 : 1)
  if (parsed.flag('noDns')) {
    if (given > 0) throw usageError('--no-dns cannot be used with DNS configuration flags (--dns, --dns-domain, --dns-option, --dns-search)', command)
    return null
  }
  const domain = parsed.string('dnsDomain')
  return { nameservers: parsed.strings('dns'), ...(domain === undefined ? {} : { domain }), searchDomains: parsed.strings('dnsSearch'), options: parsed.strings('dnsOption') }
}

// ---------------------------------------------------------------- containers

/**
 * A docker `--mount` field list, CSV-quoted (docker reads it with encoding/csv), so any path works.
 * @param {string[]} fields
 */
const csv = (fields) => fields.map((field) => `"${field.replaceAll('"', '""')}"`).join(',')

/**
 * The Filesystem JSON of a mount and the docker flags that make it.
 * @param {Mount} mount @returns {{ filesystem: object, flags: string[] }}
 */
function realizeMount(mount) {
  const readOnly = mount.options.includes('ro')
  if (mount.kind === 'virtiofs') {
    return {
      filesystem: { destination: mount.destination, options: mount.options, source: mount.source, type: { virtiofs: {} } },
      flags: ['--mount', csv(['type=bind', `source=${mount.source}`, `target=${mount.destination}`, ...(readOnly ? ['readonly'] : [])])],
    }
  }
  if (mount.kind === 'tmpfs') {
    const tmpfsOptions = mount.options.filter((entry) => entry.startsWith('size=') || entry.startsWith('mode='))
    return {
      filesystem: { destination: mount.destination, options: mount.options, source: 'tmpfs', type: { tmpfs: {} } },
      flags: ['--tmpfs', tmpfsOptions.length > 0 ? `${mount.destination}:${tmpfsOptions.join(',')}` : mount.destination],
    }
  }
  let volume = findVolume(mount.name)
  if (!volume) {
    volume = createVolume(mount.name, mount.anonymous ? { 'com.apple.container.resource.anonymous': '' } : {})
    if (!mount.anonymous) process.stderr.write(`warning: named volume was automatically created volume=${mount.name}\n`)
  }
  return {
    filesystem: {
      destination: mount.destination,
      options: mount.options,
      source: volume.source,
      type: { volume: { cache: { on: {} }, format: 'ext4', name: mount.name, sync: { fsync: {} } } },
    },
    flags: ['--mount', csv(['type=volume', `source=${dockerVolume(mount.name)}`, `target=${mount.destination}`, ...(readOnly ? ['readonly'] : [])])],
  }
}

/**
 * The networks a container joins (AttachmentConfiguration), as getAttachmentConfigurations makes them.
 * @param {string[]} specs @param {string} id
 */
function attachments(specs, id) {
  const parsed = specs.map(parseNetwork)
  if (specs.includes('none')) {
    if (specs.length !== 1) throw new CliError('no other networks may be created along with network none')
    return []
  }
  const networks = parsed.length > 0 ? parsed : [{ name: 'default' }]
  for (const network of networks) if (!findNetwork(network.name)) throw new CliError(`network ${network.name} not found`)
  return networks.map((network) => ({ network: network.name, options: { hostname: id, macAddress: network.macAddress, mtu: network.mtu ?? 1280 } }))
}

/** @param {string[]} argv */
async function run(argv) {
  const command = { name: 'container run', usage: 'container run [<options>] <image> [<arguments> ...]' }
  const parsed = parse(argv, command, { options: RUN_OPTIONS, positionals: ['<image>'], passthroughAfter: 1, unsupported: RUN_UNSUPPORTED })
  const id = parsed.string('name') ?? randomUUID().toLowerCase()
  if (id.length > 63 || !NAME_PATTERN.test(id)) {
    throw new CliError(`invalid container name '${id}': must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ and be at most 63 characters`)
  }
  if (docker(['container', 'inspect', dockerName(id)], { allowFail: true }).code === 0) throw new CliError(`container with id ${id} already exists`)
  const cpusText = parsed.string('cpus')
  // Int64 as Flags.Resource.cpus parses it; below 1 fails when the VM starts (below).
  if (cpusText !== undefined && !/^-?\d+$/.test(cpusText)) throw usageError(`The value '${cpusText}' is invalid for '-c <cpus>'`, command)
  const image = parsed.arg(0)
  const reference = normalizeReference(image)
  const found = inspectImage(reference)
  if (!found) throw new CliError(`image not found: ${image} (the emulator cannot pull from registries)`)
  const imageConfig = found.Config
  const entrypoint = parsed.string('entrypoint')
  const processArgs = entrypoint ? [entrypoint, ...parsed.rest] : [...(imageConfig?.Entrypoint ?? []), ...(parsed.rest.length > 0 ? parsed.rest : (imageConfig?.Cmd ?? []))]
  if (processArgs.length === 0) throw new CliError('command/entrypoint not specified for container process')

  const memoryText = parsed.string('memory')
  const resources = {
    cpus: cpusText === undefined ? DEFAULT_CPUS : Number(cpusText),
    memoryInBytes: memoryText === undefined ? DEFAULT_MEMORY : memoryMiB(memoryText) * 1024 * 1024,
  }
  // ContainersService.create (apple/container#1208).
  if (resources.memoryInBytes < 200 * 1024 * 1024) throw new CliError(`minimum memory amount allowed is 200 MiB (got ${resources.memoryInBytes} bytes)`)
  // Accepted by the CLI, refused when the VM starts (cpu.max quota 0, or a VM of 0 vCPUs): never "unlimited".
  if (resources.cpus < 1) throw new CliError(`failed to start container ${id}: cpus must be at least 1 (got ${resources.cpus})`)
  const mounts = [...dedupe(parsed.strings('tmpfs')).map(parseTmpfs), ...parsed.strings('volume').map((spec) => parseVolume(spec)), ...dedupe(parsed.strings('mount')).map((spec) => parseMount(spec))]
  const networks = attachments(parsed.strings('network'), id)
  const labels = parseLabels(parsed.strings('label'))
  const realized = mounts.map(realizeMount)
  const dns = dnsConfiguration(parsed, command)

  const dockerArgs = ['create', '--name', dockerName(id), '--hostname', id,
    '--label', EMULATOR_LABEL, '--label', `${LABELS.id}=${id}`, '--label', `${LABELS.image}=${reference}`,
    '--label', `${LABELS.labels}=${JSON.stringify(labels)}`, '--label', `${LABELS.networks}=${JSON.stringify(networks)}`,
    '--label', `${LABELS.mounts}=${JSON.stringify(realized.map((mount) => mount.filesystem))}`,
    '--label', `${LABELS.resources}=${JSON.stringify(resources)}`, '--label', `${LABELS.dns}=${JSON.stringify(dns)}`,
    '--label', `${LABELS.autoRemove}=${parsed.flag('remove')}`, '--label', `${LABELS.tty}=${parsed.flag('tty')}`,
    '--network', networks[0] ? dockerNetwork(networks[0].network) : 'none',
    ...realized.flatMap((mount) => mount.flags)]
  for (const entry of parsed.strings('env')) dockerArgs.push('--env', entry)
  dockerArgs.push('--entrypoint', /** @type {string} */ (processArgs[0]))
  const user = parsed.string('user')
  const workdir = parsed.string('workdir')
  if (user !== undefined) dockerArgs.push('--user', user)
  if (workdir !== undefined) dockerArgs.push('--workdir', workdir)
  if (cpusText !== undefined && resources.cpus <= hostCpus().length) dockerArgs.push('--cpus', String(resources.cpus))
  if (memoryText !== undefined) dockerArgs.push('--memory', String(resources.memoryInBytes))
  if (parsed.flag('readOnly')) dockerArgs.push('--read-only')
  // resolv.conf as docker writes it from these; a domain (or --no-dns) is only recorded.
  for (const server of dns?.nameservers ?? []) dockerArgs.push('--dns', server)
  for (const domain of dns?.searchDomains ?? []) dockerArgs.push('--dns-search', domain)
  for (const entry of dns?.options ?? []) dockerArgs.push('--dns-option', entry)
  if (parsed.flag('remove')) dockerArgs.push('--rm')
  if (parsed.flag('tty')) dockerArgs.push('--tty')
  // Detached: no stdin at all. In the foreground stdin stays open only with -i.
  if (parsed.flag('interactive') && !parsed.flag('detach')) dockerArgs.push('--interactive')
  docker([...dockerArgs, reference, ...processArgs.slice(1)])
  for (const network of networks.slice(1)) docker(['network', 'connect', dockerNetwork(network.network), dockerName(id)])

  if (parsed.flag('detach')) {
    docker(['start', dockerName(id)])
    out(id)
    return 0
  }
  return stream('docker', ['start', '--attach', ...(parsed.flag('interactive') ? ['--interactive'] : []), dockerName(id)])
}

/** @param {string[]} argv */
async function start(argv) {
  const command = { name: 'container start', usage: 'container start [--attach] [--interactive] <container-id>' }
  const parsed = parse(argv, command, { options: [flag('attach', '-a', '--attach'), flag('interactive', '-i', '--interactive')], positionals: ['<container-id>'] })
  const id = parsed.arg(0)
  const container = requireContainer(id)
  // ContainerStart.run: a running container is not started again: its ID is printed, and -a/-i fail.
  if (isRunning(container)) {
    if (parsed.flag('attach') || parsed.flag('interactive')) throw new CliError('attach is currently unsupported on already running containers')
    out(id)
    return 0
  }
  if (parsed.flag('attach')) return stream('docker', ['start', '--attach', ...(parsed.flag('interactive') ? ['--interactive'] : []), dockerName(id)])
  docker(['start', dockerName(id)])
  out(id)
  return 0
}

/** @param {string[]} argv */
async function exec(argv) {
  const command = {
    name: 'container exec',
    usage: 'container exec [--detach] [--env <env> ...] [--interactive] [--tty] [--user <user>] [--workdir <dir>] <container-id> <arguments> ...',
  }
  const parsed = parse(argv, command, {
    options: [
      flag('detach', '-d', '--detach'),
      option('env', ['-e', '--env'], { repeat: true }),
      option('user', ['-u', '--user']),
      option('workdir', ['-w', '--workdir', '--cwd'], { valueName: 'dir' }),
      flag('interactive', '-i', '--interactive'),
      flag('tty', '-t', '--tty'),
    ],
    positionals: ['<container-id>'],
    passthroughAfter: 1,
    unsupported: ['--env-file', '--uid', '--gid', '--ulimit'],
  })
  const rest = parsed.rest
  if (rest.length === 0) throw usageError("Missing expected argument '<arguments> ...'", command)
  // The real parser hands everything after the ID to the process (.captureForPassthrough), so upstream
  // an option-like word here becomes the executable and fails at exec; refusing it as a usage error is
  // the emulator's own (see KNOWN DIFFERENCES above).
  if (rest[0]?.startsWith('-')) throw usageError(`Unknown option '${rest[0]}' after the container ID: options go before <container-id>`, command)
  const id = parsed.arg(0)
  const container = requireContainer(id)
  if (!isRunning(container)) throw new CliError(`container ${id} is not running`)

  const dockerArgs = ['exec']
  for (const entry of parsed.strings('env')) dockerArgs.push('--env', entry)
  const user = parsed.string('user')
  const workdir = parsed.string('workdir')
  if (user !== undefined) dockerArgs.push('--user', user)
  if (workdir !== undefined) dockerArgs.push('--workdir', workdir)
  if (parsed.flag('interactive')) dockerArgs.push('--interactive')
  if (parsed.flag('tty')) dockerArgs.push('--tty')
  if (parsed.flag('detach')) {
    docker([...dockerArgs, '--detach', dockerName(id), ...rest])
    out(id)
    return 0
  }
  return stream('docker', [...dockerArgs, dockerName(id), ...rest])
}

/** ManagedContainer JSON for docker containers, inspecting each image once. @param {DockerContainer[]} containers */
function withImages(containers) {
  const images = inspectImages(containers.map((container) => container.Image))
  return containers.map((container) => containerJson(container, images.get(container.Image), networkIdOf))
}

/** @param {string[]} argv */
async function list(argv) {
  const command = { name: 'container list', usage: 'container list [--all] [--format <format>] [--quiet]' }
  const parsed = parse(argv, command, {
    options: [flag('all', '-a', '--all'), flag('quiet', '-q', '--quiet'), option('format', ['--format'], { choices: ['json', 'table', 'yaml', 'toml'] })],
  })
  const containers = allContainers().filter((container) => parsed.flag('all') || isRunning(container))
  const shown = withImages(containers).sort((a, b) => a.id.localeCompare(b.id))
  const format = parsed.string('format')
  if (format === 'json') out(renderJSON(shown))
  else if (format === 'yaml') out(renderYAML(shown))
  else if (format === 'toml') out(renderTOML('containers', shown))
  else if (parsed.flag('quiet')) {
    if (shown.length > 0) out(shown.map((container) => container.id).join('\n'))
  } else {
    /** @type {Array<Array<string | number>>} */
    const rows = [['ID', 'IMAGE', 'OS', 'ARCH', 'STATE', 'IP', 'CPUS', 'MEMORY', 'STARTED']]
    for (const { configuration: c, status } of shown) {
      rows.push([c.id, c.image.reference, c.platform.os, c.platform.architecture, status.state, status.networks.map((n) => n.ipv4Address).join(','),
        c.resources.cpus, `${c.resources.memoryInBytes / 1048576} MB`, status.startedDate ?? ''])
    }
    out(renderTable(rows))
  }
  return 0
}

/** @param {string[]} argv */
async function inspect(argv) {
  const command = { name: 'container inspect', usage: 'container inspect <container-ids> ...' }
  const parsed = parse(argv, command, { positionals: ['<container-ids>'], rest: '<container-ids>' })
  /** @type {DockerContainer[]} */
  const found = []
  const missing = []
  for (const id of [...parsed.args, ...parsed.rest]) {
    const container = findContainer(id)
    if (container) found.push(container)
    else missing.push(id)
  }
  // ContainerInspect.run: one missing ID fails the whole command, nothing printed.
  if (missing.length > 0) throw new CliError(`container not found: ${missing.join(', ')}`)
  out(renderJSON(withImages(found)))
  return 0
}

/** @param {string[]} argv */
async function stop(argv) {
  const command = { name: 'container stop', usage: 'container stop [--all] [--signal <signal>] [--time <time>] [<container-ids> ...]' }
  const parsed = parse(argv, command, {
    options: [flag('all', '-a', '--all'), option('signal', ['-s', '--signal']), option('time', ['-t', '--time'])],
    rest: '<container-ids>',
  })
  const time = parsed.string('time')
  const seconds = time === undefined ? 5 : Number(time)
  if (!Number.isInteger(seconds) || seconds < 0) throw usageError(`The value '${time}' is invalid for '-t <time>'`, command)
  const signal = parseSignal(parsed.string('signal') ?? 'SIGTERM')
  let failed = false
  for (const { id, container } of selectContainers(parsed.rest, parsed.flag('all'), command)) {
    if (!container) {
      process.stderr.write(`Error: container with ID ${id} not found\n`)
      failed = true
      continue
    }
    if (isRunning(container)) await stopContainer(container, signal, seconds)
    if (container.Config.Labels?.[LABELS.autoRemove] === 'true') await waitGone(dockerName(id))
    out(id)
  }
  return failed ? 1 : 0
}

/** Send `signal`, give the container `seconds` to exit, then kill it. @param {DockerContainer} container @param {string} signal @param {number} seconds */
async function stopContainer(container, signal, seconds) {
  const name = container.Name.replace(/^\//, '')
  if (signal === 'SIGTERM') {
    docker(['stop', '--time', String(seconds), name], { allowFail: true })
    return
  }
  docker(['kill', '--signal', signal, name], { allowFail: true })
  for (let waited = 0; waited < seconds * 10; waited++) {
    const { stdout } = docker(['container', 'inspect', '--format', '{{.State.Running}}', name], { allowFail: true })
    if (stdout.trim() !== 'true') return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  docker(['kill', name], { allowFail: true })
}

/** @param {string} raw */
function parseSignal(raw) {
  const name = /^\d+$/.test(raw) ? raw : `SIG${raw.toUpperCase().replace(/^SIG/, '')}`
  if (!/^(\d+|SIG[A-Z0-9]+)$/.test(name)) throw new CliError(`invalid signal: ${raw}`)
  return name
}

/**
 * IDs given, or every emulated container with --all; refuses both or neither, like the real CLI.
 * @param {string[]} ids @param {boolean} all @param {Command} command
 * @returns {Array<{ id: string, container: DockerContainer | undefined }>}
 */
function selectContainers(ids, all, command) {
  if (ids.length === 0 && !all) throw usageError('no containers specified and --all not supplied', command)
  if (ids.length > 0 && all) throw usageError('explicitly supplied container IDs conflict with the --all flag', command)
  if (all) return allContainers().map((container) => ({ id: container.Config.Labels?.[LABELS.id] ?? '', container }))
  return [...new Set(ids)].map((id) => ({ id, container: findContainer(id) }))
}

/** @param {string[]} argv */
async function remove(argv) {
  const command = { name: 'container delete', usage: 'container delete [--all] [--force] [<container-ids> ...]' }
  const parsed = parse(argv, command, { options: [flag('all', '-a', '--all'), flag('force', '-f', '--force')], rest: '<container-ids>', unsupported: ['-v', '--volumes'] })
  const force = parsed.flag('force')
  let targets = selectContainers(parsed.rest, parsed.flag('all'), command)
  if (parsed.flag('all') && !force) targets = targets.filter(({ container }) => container && !isRunning(container))
  let failed = false
  for (const { id, container } of targets) {
    const problem = !container ? `container with ID ${id} not found` : isRunning(container) && !force ? `container ${id} is running and can not be deleted` : undefined
    if (problem) {
      process.stderr.write(`Error: ${problem}\n`)
      failed = true
      continue
    }
    docker(['rm', '--force', dockerName(id)], { allowFail: true })
    out(id)
  }
  return failed ? 1 : 0
}

// ---------------------------------------------------------------- dispatch

/**
 * A command group (`image`, `network`, `volume`): its subcommands, and the real ones not emulated.
 * @param {string} group @param {Record<string, (argv: string[]) => Promise<number>>} subcommands @param {string[]} notEmulatedNames
 */
const commandGroup = (group, subcommands, notEmulatedNames) => /** @param {string[]} argv */ async (argv) => {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '-h' || sub === '--help') {
    out(`USAGE: container ${group} <subcommand>\n\nSUBCOMMANDS: ${Object.keys(subcommands).join(', ')}`)
    return 0
  }
  const handler = subcommands[sub]
  if (handler) return handler(rest)
  if (notEmulatedNames.includes(sub)) throw notEmulated(`${group} ${sub}`)
  throw usageError(`Unexpected argument '${sub}'`, { name: `container ${group}`, usage: `container ${group} <subcommand>` })
}

const image = commandGroup('image', IMAGE_SUBCOMMANDS, ['pull', 'push', 'prune', 'import', 'tree'])
const network = commandGroup('network', SUBCOMMANDS.network ?? {}, ['prune'])
const volume = commandGroup('volume', SUBCOMMANDS.volume ?? {}, ['prune'])

/** @type {Record<string, (argv: string[]) => Promise<number>>} */
const COMMANDS = {
  run,
  start,
  exec,
  list,
  ls: list,
  inspect,
  stop,
  delete: remove,
  rm: remove,
  build,
  image,
  i: image,
  network,
  n: network,
  volume,
  v: volume,
}

const NOT_EMULATED = ['create', 'kill', 'logs', 'stats', 'prune', 'export', 'cp', 'commit', 'restart', 'system', 's', 'builder', 'registry', 'r', 'machine', 'compose', 'pod', 'help']

/** @param {string} name */
const notEmulated = (name) => new CliError(`'container ${name}' is a real subcommand but is not emulated`, { code: EXIT_USAGE })

function help() {
  out(`OVERVIEW: A container platform for macOS (emulated with Docker)

USAGE: container [--debug] <subcommand>

SUBCOMMANDS (emulated):
  run, start, exec, list (ls), inspect, stop, delete (rm), build,
  image (i): list (ls), inspect, delete (rm), tag, save, load
  network (n): create, delete (rm), list (ls), inspect
  volume (v): create, delete (rm), list (ls), inspect`)
}

/** @param {string[]} argv */
async function main(argv) {
  const [name, ...rest] = argv.filter((word, i) => !(i === 0 && word === '--debug'))
  if (name === undefined || name === '-h' || name === '--help') {
    help()
    return 0
  }
  if (name === '--version' || name === '-v') {
    out(VERSION)
    return 0
  }
  const handler = COMMANDS[name]
  if (handler) return handler(rest)
  if (name.startsWith('-')) throw usageError(`unknown option '${name}'`, { name: 'container', usage: 'container <subcommand>' })
  if (NOT_EMULATED.includes(name)) throw notEmulated(name)
  // The real CLI looks an unknown subcommand up as a plugin (that is what `container images` hits).
  throw new CliError(`Plugin 'container-${name}' not found.`, { code: EXIT_USAGE })
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  if (error instanceof HelpRequest) {
    out(`USAGE: ${error.command.usage}`)
    process.exitCode = 0
  } else if (error instanceof CliError) {
    let message = `Error: ${error.message}\n`
    if (error.usage) message += `Usage: ${error.usage.usage}\n  See '${error.usage.name} --help' for more information.\n`
    process.stderr.write(message)
    process.exitCode = error.code
  } else {
    process.stderr.write(`Error: ${error instanceof Error ? error.stack : error}\n`)
    process.exitCode = 1
  }
}
