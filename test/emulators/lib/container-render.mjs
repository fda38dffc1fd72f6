// @ts-check
// Output in the real CLI's shapes. JSON as Swift's JSONEncoder writes it for `container` 1.x
// (Output.renderJSON .compact): one line, keys sorted, "/" escaped as "\/", optional fields left out
// when absent, dates in ISO 8601 without fractional seconds. The shapes follow apple/container:
//   list --format json, inspect → [ManagedContainer] {id, configuration: ContainerConfiguration,
//     status: {state, networks, startedDate}} (Sources/ContainerResource/Container/
//     ManagedContainer.swift @12d7472, encode(to:): keys id, configuration, status; ContainerStatus
//     {state, networks, startedDate}: ContainerStatus.swift, read in Yesh2344/mac-container-tool@dd1b17a,
//     a renamed 1.x copy). No exitCode/exitedDate: none of the 1.x sources read has them (they are only
//     proposed, in apple/container#1503, #1562, #2090). ContainerConfiguration as in
//     Sources/ContainerResource/Container/ContainerConfiguration.swift: {id, image, initProcess,
//     labels, mounts: [Filesystem], networks: [AttachmentConfiguration], resources: {cpus,
//     memoryInBytes}, platform, readOnly, dns: {nameservers, domain?, searchDomains, options} (absent
//     with --no-dns), …}. Filesystem (Filesystem.swift) encodes its FSType enum the way
//     Swift synthesizes Codable for enums: {"virtiofs":{}}, {"tmpfs":{}},
//     {"volume":{"name","format","cache":{"on":{}},"sync":{"fsync":{}}}}.
//   image inspect, image list --format json → [ImageResource] as
//     Sources/ContainerResource/Image/ImageResource.swift encodes it in 1.x: {id (hex of the index
//     digest), configuration: {name, descriptor, creationDate}, variants: [{platform, digest, size,
//     config: <OCI image config>}]}.
//   --format yaml | toml: the same objects as YAML / TOML. Upstream (Sources/ContainerCommands/
//     OutputRendering.swift @f44b7bc, Output.renderYAML/renderTOML) uses Yams' YAMLEncoder and a
//     TOMLEncoder with sorted keys that wraps an array under "items"; the emulator's layout is not
//     taken from those (bottle-tasks reads json only), and its TOML table name (renderTOML's `table`,
//     e.g. "containers") differs from "items": a KNOWN DIFFERENCE.
import { createHash } from 'node:crypto'
import { stringify as yamlStringify } from 'yaml'
import { LABELS, PREFIX } from './container-docker.mjs'
import { normalizeReference } from './container-reference.mjs'

/** @typedef {import('./container-docker.mjs').DockerContainer} DockerContainer */
/** @typedef {import('./container-docker.mjs').DockerImage} DockerImage */

/** @param {unknown} value @returns {unknown} */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    /** @type {Record<string, unknown>} */
    const sorted = {}
    const record = /** @type {Record<string, unknown>} */ (value)
    for (const key of Object.keys(record).sort()) if (record[key] !== undefined) sorted[key] = sortKeys(record[key])
    return sorted
  }
  return value
}

/** @param {unknown} value */
export const renderJSON = (value) => JSON.stringify(sortKeys(value)).replaceAll('/', '\\/')

/** @param {unknown} value */
export const renderYAML = (value) => yamlStringify(sortKeys(value)).trimEnd()

/**
 * TOML has no top-level array: the list is an array of tables named `table`, nested values as
 * inline tables and arrays, absent fields left out.
 * @param {string} table @param {unknown[]} list
 */
export function renderTOML(table, list) {
  /** @param {unknown} value @returns {string} */
  const inline = (value) => {
    if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`
    if (value && typeof value === 'object') {
      return `{ ${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)} = ${inline(item)}`).join(', ')} }`
    }
    return typeof value === 'string' ? JSON.stringify(value) : String(value)
  }
  return list
    .map((item) => {
      const entries = Object.entries(/** @type {Record<string, unknown>} */ (sortKeys(item)))
      return [`[[${table}]]`, ...entries.map(([key, value]) => `${JSON.stringify(key)} = ${inline(value)}`)].join('\n')
    })
    .join('\n\n')
}

/** Docker's RFC 3339 nano timestamps → Swift's `.iso8601` (whole seconds); zero dates → undefined. @param {string | undefined} dockerTime */
export function isoDate(dockerTime) {
  if (!dockerTime || dockerTime.startsWith('0001-')) return undefined
  return new Date(dockerTime).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Columns padded to the widest cell, as TableOutput does. @param {Array<Array<string | number>>} rows */
export function renderTable(rows) {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)))
  return rows.map((row) => row.map((cell, column) => String(cell).padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n')
}

/** @template T @param {T} value @returns {T | undefined} */
const nonEmpty = (value) => (value === '' || value === null || (Array.isArray(value) && value.length === 0) ? undefined : value)

const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json'
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json'

/**
 * The image's index descriptor. The engine has no OCI index for a local image, so the digest is the
 * image id (its config digest): stable for an image, different for different images.
 * @param {DockerImage} image
 */
const imageDescriptor = (image) => ({ digest: image.Id, mediaType: INDEX_MEDIA_TYPE, size: image.Size ?? 0 })

/** ProcessConfiguration.User: `{"raw":{"userString":…}}` for a named user, else `{"id":{"uid":0,"gid":0}}`. @param {string} user */
const processUser = (user) => (user ? { raw: { userString: user } } : { id: { gid: 0, uid: 0 } })

/**
 * The image's environment with the container's values, then the container's own variables (the real order).
 * @param {string[]} containerEnv @param {string[]} imageEnv
 */
function processEnvironment(containerEnv, imageEnv) {
  /** @param {string} entry */
  const key = (entry) => entry.split('=', 1)[0] ?? entry
  const values = new Map(containerEnv.map((entry) => [key(entry), entry]))
  const fromImage = imageEnv.map((entry) => values.get(key(entry)) ?? entry)
  const imageKeys = new Set(imageEnv.map(key))
  return [...fromImage, ...containerEnv.filter((entry) => !imageKeys.has(key(entry)))]
}

/** @param {string | undefined} json @param {unknown} fallback */
function parsed(json, fallback) {
  try {
    return json ? JSON.parse(json) : fallback
  } catch {
    return fallback
  }
}

/**
 * A ManagedContainer (1.x) from `docker inspect` of an emulated container and of its image.
 * @param {DockerContainer} container @param {DockerImage | undefined} image
 * @param {(dockerNetwork: string) => string} networkId the emulated network of a docker network
 */
export function containerJson(container, image, networkId) {
  const labels = container.Config.Labels ?? {}
  const id = labels[LABELS.id] ?? container.Name.replace(/^\//, '').slice(PREFIX.length)
  const running = ['running', 'paused', 'restarting'].includes(container.State.Status)
  const attachments = running
    ? Object.entries(container.NetworkSettings?.Networks ?? {})
        .filter(([, network]) => network.IPAddress)
        .map(([name, network]) => ({
          hostname: id,
          ipv4Address: `${network.IPAddress}/${network.IPPrefixLen}`,
          ipv4Gateway: nonEmpty(network.Gateway),
          macAddress: nonEmpty(network.MacAddress),
          network: networkId(name),
        }))
    : []
  const dns = parsed(labels[LABELS.dns], { nameservers: [], options: [], searchDomains: [] })
  return {
    configuration: {
      creationDate: isoDate(container.Created),
      // Left out when none (--no-dns): Swift's encoder skips a nil optional.
      ...(dns === null ? {} : { dns }),
      id,
      image: {
        descriptor: image ? imageDescriptor(image) : { digest: container.Image, mediaType: INDEX_MEDIA_TYPE, size: 0 },
        reference: labels[LABELS.image] ?? normalizeReference(container.Config.Image),
      },
      initProcess: {
        arguments: container.Args ?? [],
        environment: processEnvironment(container.Config.Env ?? [], image?.Config?.Env ?? []),
        executable: container.Path,
        rlimits: [],
        supplementalGroups: [],
        terminal: labels[LABELS.tty] === undefined ? Boolean(container.Config.Tty) : labels[LABELS.tty] === 'true',
        user: processUser(container.Config.User),
        workingDirectory: container.Config.WorkingDir || '/',
      },
      labels: parsed(labels[LABELS.labels], {}),
      mounts: parsed(labels[LABELS.mounts], []),
      networks: parsed(labels[LABELS.networks], [{ network: 'default', options: { hostname: id, mtu: 1280 } }]),
      platform: { architecture: image?.Architecture ?? 'amd64', os: image?.Os ?? 'linux' },
      publishedPorts: [],
      publishedSockets: [],
      readOnly: Boolean(container.HostConfig?.ReadonlyRootfs),
      resources: parsed(labels[LABELS.resources], { cpus: 4, memoryInBytes: 1024 * 1024 * 1024 }),
      rosetta: false,
      runtimeHandler: 'container-runtime-linux',
      ssh: false,
      sysctls: {},
      virtualization: false,
    },
    id,
    status: {
      networks: attachments,
      startedDate: isoDate(container.State.StartedAt),
      state: running ? 'running' : 'stopped',
    },
  }
}

/**
 * One variant of an image: its platform and its OCI image config.
 * @typedef {{ platform: { os: string, architecture: string, variant?: string }, image: DockerImage }} Variant
 */

/** The OCI image config of a docker image. @param {DockerImage} image */
function ociConfig(image) {
  const config = image.Config ?? {}
  return {
    architecture: image.Architecture,
    author: nonEmpty(image.Author),
    config: {
      Cmd: nonEmpty(config.Cmd),
      Entrypoint: nonEmpty(config.Entrypoint),
      Env: nonEmpty(config.Env),
      Labels: config.Labels && Object.keys(config.Labels).length > 0 ? config.Labels : undefined,
      StopSignal: nonEmpty(config.StopSignal),
      User: nonEmpty(config.User),
      WorkingDir: nonEmpty(config.WorkingDir),
    },
    created: isoDate(image.Created),
    os: image.Os,
    rootfs: { diff_ids: image.RootFS?.Layers ?? [], type: 'layers' },
    variant: nonEmpty(image.Variant),
  }
}

/**
 * An ImageResource (1.x), as `image inspect` and `image list --format json` print it.
 * @param {string} reference @param {DockerImage} image the image itself (its index)
 * @param {Variant[]} variants
 */
export function imageResource(reference, image, variants) {
  const descriptor = imageDescriptor(image)
  return {
    configuration: { creationDate: isoDate(image.Created) ?? '1970-01-01T00:00:00Z', descriptor, name: reference },
    id: descriptor.digest.replace(/^sha256:/, ''),
    variants: variants.map(({ platform, image: variantImage }) => ({
      config: ociConfig(variantImage),
      // A manifest digest of our own: one per (image, platform), never equal to the index digest.
      digest: `sha256:${createHash('sha256').update(`${variantImage.Id} ${platform.os}/${platform.architecture}/${platform.variant ?? ''} ${MANIFEST_MEDIA_TYPE}`).digest('hex')}`,
      platform: { architecture: platform.architecture, os: platform.os, variant: nonEmpty(platform.variant ?? '') },
      size: variantImage.Size ?? 0,
    })),
  }
}
