// Output in the real CLI's shapes. JSON as Swift's JSONEncoder writes it for `container` 1.x
// (Output.renderJSON .compact): one line, keys sorted, "/" escaped as "\/", optional fields left out
// when absent, dates in ISO 8601 without fractional seconds. The shapes follow apple/container:
//   list --format json, inspect → [ManagedContainer]
//     {id, configuration: {id, image: {reference, descriptor}, labels, initProcess: {executable, arguments,
//      environment: ["K=V"], workingDirectory, terminal, user: {raw: {userString}} | {id: {uid, gid}}, …}, …},
//      status: {state: "running" | "stopped", networks, startedDate}, exitCode?, exitedDate?}
//   image list --format json → [ImageDescription] {reference, descriptor: {digest, mediaType, size}}
//   image inspect → [ImageDetail] {name, index: {digest, mediaType, size}, variants: [{platform, size,
//      config: <OCI image config: {architecture, os, created, rootfs, config: {User, Env, Entrypoint, Cmd, WorkingDir, Labels, StopSignal}}>}]}
import { LABELS, PREFIX } from './container-docker.mjs'
import { normalizeReference } from './container-reference.mjs'

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    const sorted = {}
    for (const key of Object.keys(value).sort()) if (value[key] !== undefined) sorted[key] = sortKeys(value[key])
    return sorted
  }
  return value
}

export const renderJSON = (value) => JSON.stringify(sortKeys(value)).replaceAll('/', '\\/')

/** Docker's RFC 3339 nano timestamps → Swift's `.iso8601` (whole seconds); zero dates → undefined. */
export function isoDate(dockerTime) {
  if (!dockerTime || dockerTime.startsWith('0001-')) return undefined
  return new Date(dockerTime).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Columns padded to the widest cell, as TableOutput does. */
export function renderTable(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)))
  return rows.map((row) => row.map((cell, column) => String(cell).padEnd(widths[column])).join('  ').trimEnd()).join('\n')
}

const nonEmpty = (value) => (value === '' || value === null || (Array.isArray(value) && value.length === 0) ? undefined : value)

const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json'

/**
 * The image's descriptor. The engine has no OCI index for a local image, so the digest is the
 * image id (its config digest): stable for an image, different for different images.
 */
const imageDescriptor = (image) => ({ digest: image.Id, mediaType: INDEX_MEDIA_TYPE, size: image.Size ?? 0 })

/** ProcessConfiguration.User: `{"raw":{"userString":…}}` for a named user, else `{"id":{"uid":0,"gid":0}}`. */
const processUser = (user) => (user ? { raw: { userString: user } } : { id: { gid: 0, uid: 0 } })

/** The image's environment with the container's values, then the container's own variables (the real order). */
function processEnvironment(containerEnv, imageEnv) {
  const key = (entry) => entry.split('=', 1)[0]
  const values = new Map(containerEnv.map((entry) => [key(entry), entry]))
  const fromImage = imageEnv.map((entry) => values.get(key(entry)) ?? entry)
  const imageKeys = new Set(imageEnv.map(key))
  return [...fromImage, ...containerEnv.filter((entry) => !imageKeys.has(key(entry)))]
}

/** A ManagedContainer (1.x) from `docker inspect` of an emulated container and of its image. */
export function containerJson(container, image) {
  const labels = container.Config.Labels ?? {}
  const id = labels[LABELS.id] ?? container.Name.replace(/^\//, '').slice(PREFIX.length)
  const running = ['running', 'paused', 'restarting'].includes(container.State.Status)
  const networkName = labels[LABELS.network] ?? 'default'
  const attachments = running
    ? Object.values(container.NetworkSettings?.Networks ?? {})
        .filter((network) => network.IPAddress)
        .map((network) => ({
          hostname: id,
          ipv4Address: `${network.IPAddress}/${network.IPPrefixLen}`,
          ipv4Gateway: nonEmpty(network.Gateway),
          macAddress: nonEmpty(network.MacAddress),
          network: networkName,
        }))
    : []
  return {
    configuration: {
      creationDate: isoDate(container.Created),
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
      labels: JSON.parse(labels[LABELS.labels] ?? '{}'),
      mounts: [],
      networks: [{ network: networkName, options: { hostname: id } }],
      platform: { architecture: image?.Architecture ?? 'amd64', os: image?.Os ?? 'linux' },
      publishedPorts: [],
      publishedSockets: [],
      readOnly: false,
      resources: { cpus: 4, memoryInBytes: 1024 * 1024 * 1024 },
      rosetta: false,
      runtimeHandler: 'container-runtime-linux',
      ssh: false,
      sysctls: {},
      virtualization: false,
    },
    exitCode: running ? undefined : container.State.ExitCode,
    exitedDate: running ? undefined : isoDate(container.State.FinishedAt),
    id,
    status: {
      networks: attachments,
      startedDate: isoDate(container.State.StartedAt),
      state: running ? 'running' : 'stopped',
    },
  }
}

/** An ImageDescription, as `image list --format json` prints it. */
export const imageDescription = (reference, image) => ({ descriptor: imageDescriptor(image), reference })

/** An ImageDetail, as `image inspect` prints it: name, index descriptor, one variant per platform with its OCI config. */
export function imageDetail(reference, image) {
  const config = image.Config ?? {}
  const platform = { architecture: image.Architecture, os: image.Os, variant: nonEmpty(image.Variant) }
  return {
    index: imageDescriptor(image),
    name: reference,
    variants: [
      {
        config: {
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
          variant: platform.variant,
        },
        platform,
        size: image.Size ?? 0,
      },
    ],
  }
}
