// @ts-check
// `container network …` and `container volume …`, and the checks `run` makes against them.
//   network create NAME [--label K=V]… [--internal] [--subnet CIDR]   (NetworkCreate.swift: --internal
//     makes a hostOnly network; ids match NetworkConfiguration's ^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$)
//   network delete|rm NAME…, network list|ls [--format json|table|yaml|toml] [-q], network inspect NAME…
//     JSON: [{id, configuration: {id, mode: nat|hostOnly, creationDate, labels, pluginInfo}, status}]
//     (NetworkConfiguration.swift; the test suite's NetworkInspectOutput reads {id, configuration, status}).
//     The builtin network "default" (nat) always exists and cannot be deleted.
//   volume create NAME [--label K=V]… [--opt K=V]… [-s SIZE], volume delete|rm NAME…,
//   volume list|ls [-q] [--format json|table], volume inspect NAME… (pretty, sorted keys: VolumeInspect.swift)
//     Names match VolumeStorage's ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (≤ 255); errors read as VolumeError does:
//     "volume 'X' not found", "volume 'X' already exists", "volume 'X' is currently in use …".
//   Docker underneath: a network is `apple-net-ID` (hostOnly = --internal), a volume `apple-vol-NAME`.
import { CliError, flag, option, parse } from './container-args.mjs'
import { EMULATOR_LABEL, LABELS, docker, dockerNetwork, dockerVolume, inspectObject } from './container-docker.mjs'
import { NETWORK_ID, isValidVolumeName } from './container-parse.mjs'
import { isoDate, renderJSON, renderTable, renderTOML, renderYAML } from './container-render.mjs'

/** @param {string} text */
const out = (text) => process.stdout.write(`${text}\n`)
const FORMATS = ['json', 'table', 'yaml', 'toml']

/** @typedef {{ id: string, mode: 'nat' | 'hostOnly', created?: string, labels: Record<string, string>, subnet?: string, gateway?: string }} Network */

/** The emulated network with this id, or undefined. @param {string} id @returns {Network | undefined} */
export function findNetwork(id) {
  const found = inspectObject('network', dockerNetwork(id))
  if (!found) return undefined
  const labels = found.Labels ?? {}
  if (id !== 'default' && labels[LABELS.emulator] !== 'container') return undefined
  const ipam = found.IPAM?.Config?.[0]
  return {
    id,
    mode: id === 'default' ? 'nat' : labels[LABELS.networkMode] === 'hostOnly' ? 'hostOnly' : 'nat',
    created: found.Created,
    labels: id === 'default' ? {} : JSON.parse(labels[LABELS.ownLabels] ?? '{}'),
    subnet: ipam?.Subnet,
    gateway: ipam?.Gateway,
  }
}

/** The network id of a docker network the emulator made (or "default" for the bridge). @param {string} name */
export const networkIdOf = (name) => (name === 'bridge' ? 'default' : name.replace(/^apple-net-/, ''))

/** @param {Network} network */
const networkJson = (network) => ({
  configuration: {
    creationDate: isoDate(network.created),
    id: network.id,
    ipv4Subnet: network.subnet,
    labels: network.labels,
    mode: network.mode,
    pluginInfo: { plugin: 'container-network-vmnet' },
  },
  id: network.id,
  status: { ipv4Gateway: network.gateway, ipv4Subnet: network.subnet },
})

function allNetworks() {
  const { stdout } = docker(['network', 'ls', '--format', '{{.Name}}', '--filter', `label=${EMULATOR_LABEL}`])
  const ids = ['default', ...stdout.split('\n').filter(Boolean).map(networkIdOf)]
  return ids.map(findNetwork).filter((network) => network !== undefined).sort((a, b) => a.id.localeCompare(b.id))
}

/** @param {string[]} argv */
async function networkCreate(argv) {
  const command = { name: 'container network create', usage: 'container network create [--label <label> ...] [--internal] [--subnet <subnet>] <name>' }
  const parsed = parse(argv, command, {
    options: [option('label', ['--label'], { repeat: true }), flag('internal', '--internal'), option('subnet', ['--subnet'])],
    positionals: ['<name>'],
    unsupported: ['--bridge', '--subnet-v6', '--plugin', '--plugin-variant'],
  })
  const id = parsed.arg(0)
  if (!NETWORK_ID.test(id)) throw new CliError(`invalid network ID: ${id}`)
  if (findNetwork(id)) throw new CliError(`network ${id} already exists`)
  const labels = Object.fromEntries(parsed.strings('label').map((entry) => [entry.split('=', 1)[0], entry.slice(entry.indexOf('=') + 1)]))
  const mode = parsed.flag('internal') ? 'hostOnly' : 'nat'
  const subnet = parsed.string('subnet')
  docker(['network', 'create', '--label', EMULATOR_LABEL, '--label', `${LABELS.networkMode}=${mode}`, '--label', `${LABELS.ownLabels}=${JSON.stringify(labels)}`,
    ...(mode === 'hostOnly' ? ['--internal'] : []), ...(subnet ? ['--subnet', subnet] : []), dockerNetwork(id)])
  out(id)
  return 0
}

/** @param {string[]} argv */
async function networkDelete(argv) {
  const command = { name: 'container network delete', usage: 'container network delete <network-names> ...' }
  const parsed = parse(argv, command, { rest: '<network-names>', restRequired: true, unsupported: ['-a', '--all'] })
  let failed = false
  for (const id of parsed.rest) {
    const problem = id === 'default' ? 'cannot delete the builtin network default' : !findNetwork(id) ? `network ${id} not found` : undefined
    const removed = problem ? undefined : docker(['network', 'rm', dockerNetwork(id)], { allowFail: true })
    if (problem || (removed && removed.code !== 0)) {
      process.stderr.write(`Error: ${problem ?? `network ${id} is in use`}\n`)
      failed = true
      continue
    }
    out(id)
  }
  return failed ? 1 : 0
}

/** @param {string[]} argv */
async function networkList(argv) {
  const command = { name: 'container network list', usage: 'container network list [--format <format>] [--quiet]' }
  const parsed = parse(argv, command, { options: [flag('quiet', '-q', '--quiet'), option('format', ['--format'], { choices: FORMATS })] })
  const networks = allNetworks()
  const format = parsed.string('format')
  if (format === 'json') out(renderJSON(networks.map(networkJson)))
  else if (format === 'yaml') out(renderYAML(networks.map(networkJson)))
  else if (format === 'toml') out(renderTOML('networks', networks.map(networkJson)))
  else if (parsed.flag('quiet')) networks.forEach((network) => out(network.id))
  else out(renderTable([['NETWORK', 'STATE', 'SUBNET'], ...networks.map((network) => [network.id, 'running', network.subnet ?? ''])]))
  return 0
}

/** @param {string[]} argv */
async function networkInspect(argv) {
  const command = { name: 'container network inspect', usage: 'container network inspect <networks> ...' }
  const parsed = parse(argv, command, { rest: '<networks>', restRequired: true })
  const found = parsed.rest.map((id) => ({ id, network: findNetwork(id) }))
  const present = found.flatMap(({ network }) => (network ? [networkJson(network)] : []))
  if (present.length > 0) out(renderJSON(present))
  for (const { id, network } of found) if (!network) process.stderr.write(`Error: network ${id} not found\n`)
  return present.length === found.length ? 0 : 1
}

/** @typedef {{ name: string, labels: Record<string, string>, options: Record<string, string>, created?: string, source: string }} Volume */

/** The emulated volume with this name, or undefined. @param {string} name @returns {Volume | undefined} */
export function findVolume(name) {
  const found = inspectObject('volume', dockerVolume(name))
  if (!found || found.Labels?.[LABELS.emulator] !== 'container') return undefined
  const own = JSON.parse(found.Labels[LABELS.ownLabels] ?? '{}')
  return { name, labels: own.labels ?? {}, options: own.options ?? {}, created: found.CreatedAt, source: found.Mountpoint ?? '' }
}

/**
 * Create an emulated volume (also what `run` does for a volume it does not find: getOrCreateVolume).
 * @param {string} name @param {Record<string, string>} [labels] @param {Record<string, string>} [options]
 */
export function createVolume(name, labels = {}, options = {}) {
  docker(['volume', 'create', '--label', EMULATOR_LABEL, '--label', `${LABELS.ownLabels}=${JSON.stringify({ labels, options })}`, dockerVolume(name)])
  return /** @type {Volume} */ (findVolume(name))
}

/** @param {Volume} volume */
const volumeJson = (volume) => ({
  creationDate: isoDate(volume.created),
  driver: 'local',
  format: 'ext4',
  labels: volume.labels,
  name: volume.name,
  options: volume.options,
  source: volume.source,
})

/** Utility.parseKeyValuePairs: split at the first "=", a bare key is "key=". @param {string[]} pairs */
const keyValuePairs = (pairs) => Object.fromEntries(pairs.map((pair) => (pair.includes('=') ? [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] : [pair, ''])))

/** @param {string[]} argv */
async function volumeCreate(argv) {
  const command = { name: 'container volume create', usage: 'container volume create [--label <label> ...] [--opt <opt> ...] [-s <s>] <name>' }
  const parsed = parse(argv, command, {
    options: [option('label', ['--label'], { repeat: true }), option('opt', ['--opt'], { repeat: true }), option('size', ['-s']), option('driver', ['--driver'])],
    positionals: ['<name>'],
  })
  const name = parsed.arg(0)
  if (!isValidVolumeName(name)) throw new CliError(`invalid volume name '${name}'`)
  if ((parsed.string('driver') ?? 'local') !== 'local') throw new CliError(`volume driver '${parsed.string('driver')}' is not supported`)
  if (findVolume(name)) throw new CliError(`volume '${name}' already exists`)
  const options = keyValuePairs(parsed.strings('opt'))
  const size = parsed.string('size')
  if (size !== undefined) options.size = size
  createVolume(name, keyValuePairs(parsed.strings('label')), options)
  out(name)
  return 0
}

/** @param {string[]} argv */
async function volumeDelete(argv) {
  const command = { name: 'container volume delete', usage: 'container volume delete <names> ...' }
  const parsed = parse(argv, command, { rest: '<names>', restRequired: true, unsupported: ['-a', '--all'] })
  let failed = false
  for (const name of parsed.rest) {
    const volume = findVolume(name)
    const removed = volume ? docker(['volume', 'rm', dockerVolume(name)], { allowFail: true }) : undefined
    if (!volume || (removed && removed.code !== 0)) {
      process.stderr.write(`Error: ${volume ? `volume '${name}' is currently in use and cannot be accessed by another container, or deleted` : `volume '${name}' not found`}\n`)
      failed = true
      continue
    }
    out(name)
  }
  return failed ? 1 : 0
}

/** @param {string[]} argv */
async function volumeList(argv) {
  const command = { name: 'container volume list', usage: 'container volume list [--format <format>] [--quiet]' }
  const parsed = parse(argv, command, { options: [flag('quiet', '-q', '--quiet'), option('format', ['--format'], { choices: ['json', 'table'] })] })
  const { stdout } = docker(['volume', 'ls', '--format', '{{.Name}}', '--filter', `label=${EMULATOR_LABEL}`])
  const volumes = stdout.split('\n').filter(Boolean).map((name) => findVolume(name.replace(/^apple-vol-/, ''))).filter((volume) => volume !== undefined)
  if (parsed.string('format') === 'json') out(renderJSON(volumes.map(volumeJson)))
  else if (parsed.flag('quiet')) volumes.forEach((volume) => out(volume.name))
  else out(renderTable([['NAME', 'DRIVER', 'OPTIONS'], ...volumes.map((volume) => [volume.name, 'local', ''])]))
  return 0
}

/** @param {string[]} argv */
async function volumeInspect(argv) {
  const command = { name: 'container volume inspect', usage: 'container volume inspect <names> ...' }
  const parsed = parse(argv, command, { rest: '<names>', restRequired: true })
  const volumes = parsed.rest.map((name) => ({ name, volume: findVolume(name) }))
  const missing = volumes.find(({ volume }) => !volume)
  if (missing) throw new CliError(`volume '${missing.name}' not found`)
  out(JSON.stringify(volumes.map(({ volume }) => volumeJson(/** @type {Volume} */ (volume))), null, 2).replaceAll('/', '\\/'))
  return 0
}

/** @type {Record<string, Record<string, (argv: string[]) => Promise<number>>>} */
export const SUBCOMMANDS = {
  network: { create: networkCreate, delete: networkDelete, rm: networkDelete, list: networkList, ls: networkList, inspect: networkInspect },
  volume: { create: volumeCreate, delete: volumeDelete, rm: volumeDelete, list: volumeList, ls: volumeList, inspect: volumeInspect },
}

