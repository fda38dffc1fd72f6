// @ts-check
// The value grammar of `container run`, as apple/container's
// Sources/Services/ContainerAPIService/Client/Parser.swift parses it (labels, -v/--volume, --mount,
// --tmpfs, --network, -m/--memory via Measurement.parse), and the names VolumeStorage
// (Sources/ContainerResource/Volume/VolumeConfiguration.swift) and NetworkConfiguration
// (Sources/ContainerResource/Network/NetworkConfiguration.swift) accept. Pure functions: the
// filesystem checks take an `exists` probe so the unit tests can drive them.
import { existsSync, statSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { isAbsolute, resolve } from 'node:path'
import { CliError } from './container-args.mjs'

/**
 * Swift's `split(separator:maxSplits:omittingEmptySubsequences:)` (the standard library's
 * algorithm): at most `maxSplits` splits, and empty pieces dropped by default. "a==b" split on "="
 * is ["a", "b"], "k=" is ["k"].
 * @param {string} text @param {string} separator one character
 * @param {{ maxSplits?: number, omittingEmpty?: boolean }} [options]
 * @returns {string[]}
 */
export function swiftSplit(text, separator, { maxSplits = Infinity, omittingEmpty = true } = {}) {
  /** @type {string[]} */
  const result = []
  const chars = [...text]
  let start = 0
  /** @param {number} end */
  const append = (end) => {
    if (start === end && omittingEmpty) return false
    result.push(chars.slice(start, end).join(''))
    return true
  }
  if (maxSplits === 0 || chars.length === 0) {
    append(chars.length)
    return result
  }
  for (let end = 0; end < chars.length; end++) {
    if (chars[end] !== separator) continue
    const appended = append(end)
    start = end + 1
    if (appended && result.length === maxSplits) break
  }
  if (start !== chars.length || !omittingEmpty) result.push(chars.slice(start).join(''))
  return result
}

const invalid = (/** @type {string} */ message) => new CliError(message)

/**
 * `Parser.labels`: split on "=" with at most 2 splits; a third piece (a value holding another "=")
 * is refused.
 * @param {string[]} raw @returns {Record<string, string>}
 */
export function parseLabels(raw) {
  /** @type {Record<string, string>} */
  const labels = {}
  for (const label of raw) {
    if (label === '') throw invalid('label cannot be an empty string')
    const parts = swiftSplit(label, '=', { maxSplits: 2 })
    if (parts.length === 1) labels[/** @type {string} */ (parts[0])] = ''
    else if (parts.length === 2) labels[/** @type {string} */ (parts[0])] = /** @type {string} */ (parts[1])
    else throw invalid(`invalid label format ${label}`)
  }
  return labels
}

const UNITS = /** @type {Record<string, number>} */ ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 })

/**
 * `Measurement.parse(parsing:)` (binary units): a number, then an optional unit b, k, m, g, t or p,
 * optionally followed by "b" or "ib" ("512M", "1GiB", "2g"); no unit means bytes. Returns bytes.
 * @param {string} text @returns {number}
 */
export function parseMeasurement(text) {
  const trimmed = text.trim().toLowerCase()
  if (trimmed === '') throw invalid('invalid size')
  const firstNonNumeric = [...trimmed].findIndex((char) => !'01234567890.'.includes(char))
  const rawValue = (firstNonNumeric === -1 ? trimmed : trimmed.slice(0, firstNonNumeric)).trim()
  const rawUnit = firstNonNumeric === -1 ? '' : trimmed.slice(firstNonNumeric).trim()
  const value = /^(\d+\.?\d*|\.\d+)$/.test(rawValue) ? Number(rawValue) : NaN
  if (Number.isNaN(value)) throw invalid('invalid size')
  const symbol = rawUnit[0] ?? 'b'
  if (!['', 'ib', 'b'].includes(rawUnit.slice(1))) throw invalid(`invalid symbol: ${rawUnit}`)
  const unit = UNITS[symbol]
  if (unit === undefined) throw invalid(`invalid symbol: ${rawUnit}`)
  return value * unit
}

/** `Parser.memoryStringAsMiB`: whole MiB, truncated. @param {string} text */
export const memoryMiB = (text) => Math.trunc(parseMeasurement(text) / 1024 ** 2)

export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const VOLUME_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$'
/** `VolumeStorage.isValidVolumeName`. @param {string} name */
export const isValidVolumeName = (name) => [...name].length <= 255 && VOLUME_NAME.test(name)

/** `isValidNetworkID` of NetworkConfiguration. */
export const NETWORK_ID = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/

/**
 * A parsed mount: a host directory (virtiofs), a tmpfs, or a named volume.
 * @typedef {{ kind: 'virtiofs', source: string, destination: string, options: string[] }
 *   | { kind: 'tmpfs', destination: string, options: string[] }
 *   | { kind: 'volume', name: string, destination: string, options: string[], anonymous: boolean }} Mount
 */

/** @typedef {(path: string) => 'dir' | 'file' | undefined} Probe */

/** @type {Probe} */
export const probeHost = (path) => {
  if (!existsSync(path)) return undefined
  return statSync(path).isDirectory() ? 'dir' : 'file'
}

/**
 * `Parser.volume` (-v/--volume): `[src:]dst[:opts]`; a source with a "/" (or "." / "..") is a host
 * path that must exist, any other source names a volume.
 * @param {string} spec @param {Probe} [probe] @returns {Mount}
 */
export function parseVolume(spec, probe = probeHost) {
  const parts = swiftSplit(spec.replace(/^:+/, ''), ':')
  const [first = '', second = '', third] = parts
  if (parts.length === 1) return validate({ kind: 'volume', name: randomUUID(), destination: first, options: [], anonymous: true }, probe)
  if (parts.length !== 2 && parts.length !== 3) throw invalid(`invalid volume format ${spec}`)
  const options = third === undefined ? [] : swiftSplit(third, ',')
  if (!(first.includes('/') || first === '.' || first === '..')) {
    if (!isValidVolumeName(first)) throw invalid(`invalid volume name '${first}': must match ${VOLUME_NAME_PATTERN}`)
    return validate({ kind: 'volume', name: first, destination: second, options, anonymous: false }, probe)
  }
  const source = resolve(first)
  if (!probe(source)) throw invalid(`path '${first}' does not exist`)
  return validate({ kind: 'virtiofs', source, destination: second, options }, probe)
}

/**
 * `Parser.mount` (--mount): comma-separated directives type, source|src, destination|dst|target,
 * readonly|ro, size and mode (tmpfs only); the type defaults to virtiofs and "bind" means virtiofs.
 * @param {string} spec @param {Probe} [probe] @returns {Mount}
 */
export function parseMount(spec, probe = probeHost) {
  const parts = swiftSplit(spec, ',')
  if (parts.length === 0) throw invalid(`invalid mount format: ${spec}`)
  /** @type {Map<string, string>} */
  const directives = new Map([['type', 'virtiofs']])
  for (const part of parts) {
    const keyValue = swiftSplit(part, '=', { maxSplits: 2 })
    let key = /** @type {string} */ (keyValue[0])
    let skipValue = false
    if (['type', 'size', 'mode'].includes(key)) {
      // kept as is
    } else if (key === 'source' || key === 'src') key = 'source'
    else if (key === 'destination' || key === 'dst' || key === 'target') key = 'destination'
    else if (key === 'readonly' || key === 'ro') {
      key = 'ro'
      skipValue = true
    } else throw invalid(`unknown directive ${key} when parsing mount ${spec}`)
    if (!skipValue && keyValue.length !== 2) throw invalid(`invalid directive format missing value ${part} in ${spec}`)
    directives.set(key, skipValue ? '' : /** @type {string} */ (keyValue[1]))
  }
  const type = directives.get('type') ?? ''
  if (!['virtiofs', 'bind', 'tmpfs', 'volume'].includes(type)) throw invalid(`unsupported mount type ${type}`)
  /** @type {string[]} */
  const options = []
  if (directives.has('ro')) options.push('ro')
  const size = directives.get('size')
  if (size !== undefined) {
    if (type !== 'tmpfs') throw invalid(`unsupported option size for ${type} mount`)
    options.push(`size=${memoryMiB(size) * 1024 * 1024}`)
  }
  const mode = directives.get('mode')
  if (mode !== undefined) {
    if (type !== 'tmpfs') throw invalid(`unsupported option mode for ${type} mount`)
    options.push(`mode=${mode}`)
  }
  const destination = directives.get('destination') ?? ''
  const source = directives.get('source')
  if (type === 'tmpfs') {
    if (source !== undefined) throw invalid('cannot specify source for tmpfs mount')
    return validate({ kind: 'tmpfs', destination, options }, probe)
  }
  if (type === 'volume') {
    if (source !== undefined && !isValidVolumeName(source)) throw invalid(`invalid volume name '${source}': must match ${VOLUME_NAME_PATTERN}`)
    const anonymous = source === undefined || source === ''
    return validate({ kind: 'volume', name: anonymous ? randomUUID() : source, destination, options, anonymous }, probe)
  }
  if (source === undefined) return validate({ kind: 'virtiofs', source: '', destination, options }, probe)
  const absolute = resolve(source)
  const found = probe(absolute)
  if (!found) throw invalid(`path '${source}' does not exist`)
  if (found !== 'dir') throw invalid(`path '${source}' is not a directory`)
  return validate({ kind: 'virtiofs', source: absolute, destination, options }, probe)
}

/** `Parser.tmpfsMounts` (--tmpfs PATH). @param {string} destination @returns {Mount} */
export const parseTmpfs = (destination) => validate({ kind: 'tmpfs', destination, options: [] }, probeHost)

/** `Parser.validateMount`. @param {Mount} mount @param {Probe} probe @returns {Mount} */
function validate(mount, probe) {
  if (mount.kind === 'virtiofs') {
    if (!isAbsolute(mount.source)) throw invalid(`${mount.source} is not an absolute path on the host`)
    if (!probe(mount.source)) throw invalid(`file path '${mount.source}' does not exist`)
  }
  if (mount.destination === '') throw invalid(mount.kind === 'volume' ? 'volume destination cannot be empty' : 'mount destination cannot be empty')
  return mount
}

/** `[...].dedupe()` of the real parser: the first of equal specs wins. @param {string[]} specs */
export const dedupe = (specs) => [...new Set(specs)]

/**
 * `Parser.network` (--network): `NAME[,mac=XX:XX:XX:XX:XX:XX][,mtu=N]`.
 * @param {string} spec @returns {{ name: string, macAddress?: string, mtu?: number }}
 */
export function parseNetwork(spec) {
  if (spec === '') throw invalid('network specification cannot be empty')
  const [name = '', ...properties] = swiftSplit(spec, ',', { omittingEmpty: false })
  if (name === '') throw invalid('network name cannot be empty')
  /** @type {{ name: string, macAddress?: string, mtu?: number }} */
  const network = { name }
  for (const part of properties) {
    const keyValue = swiftSplit(part, '=', { maxSplits: 2, omittingEmpty: false })
    if (keyValue.length !== 2) throw invalid(`invalid property format '${part}' in network specification '${spec}'`)
    const [key, value = ''] = keyValue
    if (key === 'mac') {
      if (value === '') throw invalid('mac address value cannot be empty')
      if (!/^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$/.test(value)) throw invalid(`invalid MAC address format ${value}, expected format: XX:XX:XX:XX:XX:XX`)
      network.macAddress = value
    } else if (key === 'mtu') {
      const mtu = /^\d+$/.test(value) ? Number(value) : NaN
      if (!(mtu >= 1280 && mtu <= 65535)) throw invalid(`invalid mtu value '${value}': must be between 1280 and 65535`)
      network.mtu = mtu
    } else throw invalid(`unknown network property '${key}'. Available properties: mac, mtu`)
  }
  return network
}
