// What the contract says each field of metadata.json, a run configuration and a bundle manifest may
// be, written field by field apart from the zod schemas in lib/ (see schema-model.ts).
import fc from 'fast-check'
import { BUNDLE_FORMAT } from '../../lib/bundle.ts'
import { COMPRESSIONS } from '../../lib/compression.ts'
import { RUN_CONFIG_FORMAT, RUN_CONFIG_VERSION } from '../../lib/run-config.ts'
import { BACKENDS } from '../../lib/state.ts'
import { array, bool, discriminated, int, literal, matching, nullable, numberIn, object, oneOf, optional, record, shallow, text } from './schema-model.ts'

export const metadataModel = object(
  {
    identity: text(),
    agent_name: text(),
    cwd: optional(text()),
    copy_cwd: optional(bool()),
    started_at: optional(text()),
    compose_project: optional(text()),
    // "" or absent: docker (older state).
    backend: optional(oneOf([...BACKENDS, ''])),
    image: optional(text()),
    secret_env: optional(array(text())),
  },
  // bot-bottle and other tools add fields: kept.
  { loose: true },
)

const TEXT = 4096
const short = () => text(TEXT)
const strings = () => array(text(TEXT), 1000)
const labels = () => record(512, text(TEXT))

/** What the platform adds to a bottle's confinement (absent in version 1 records). */
const platform = object({
  name: short(),
  vm: bool(),
  rootless: bool(),
  userns: bool(),
  seccomp: optional(short()),
  apparmor: bool(),
  selinux: bool(),
  cgroupVersion: optional(short()),
})

const rates = () => array(object({ path: short(), rate: int() }))

/** The fields of a docker run, the agent's or a sidecar's. */
const dockerRunFields = {
  backend: literal('docker'),
  user: short(),
  workdir: short(),
  hostname: optional(short()),
  domainname: optional(short()),
  entrypoint: nullable(strings()),
  cmd: nullable(strings()),
  tty: bool(),
  tempDirsReady: optional(bool()),
  openStdin: bool(),
  env: strings(),
  secretEnv: strings(),
  labels: labels(),
  init: bool(),
  privileged: bool(),
  readOnlyRootfs: bool(),
  capAdd: strings(),
  capDrop: strings(),
  // seccomp= holds a whole profile (the engine keeps its JSON, not a path).
  securityOpt: array(text(1 << 18), 64),
  runtime: short(),
  networkMode: short(),
  pidMode: short(),
  ipcMode: short(),
  utsMode: short(),
  usernsMode: short(),
  cgroupnsMode: short(),
  resources: object({
    memory: int(),
    memorySwap: int(),
    memoryReservation: int(),
    nanoCpus: int(),
    cpuShares: int(),
    cpuQuota: int(),
    cpuPeriod: int(),
    cpusetCpus: short(),
    pidsLimit: int(),
    shmSize: int(),
    oomKillDisable: bool(),
    ulimits: array(object({ name: short(), soft: int(), hard: int() })),
    cpusetMems: optional(short()),
    oomScoreAdj: optional(int()),
    memorySwappiness: optional(nullable(int())),
    blkio: optional(object({ weight: int(), weightDevices: array(object({ path: short(), weight: int() })), readBps: rates(), writeBps: rates(), readIops: rates(), writeIops: rates() })),
    storageSize: optional(short()),
  }),
  cgroupParent: optional(short()),
  apparmorProfile: optional(short()),
  selinuxLabel: optional(short()),
  maskedPaths: optional(strings()),
  readonlyPaths: optional(strings()),
  tmpfs: labels(),
  mounts: array(
    object({
      type: oneOf(['volume', 'bind', 'tmpfs']),
      source: short(),
      target: short(),
      readOnly: bool(),
      anonymous: optional(bool()),
      driver: optional(short()),
      propagation: optional(short()),
      tmpfsOptions: optional(short()),
    }),
  ),
  devices: array(object({ host: short(), container: short(), permissions: short() })),
  extraHosts: strings(),
  dns: strings(),
  dnsSearch: strings(),
  dnsOptions: strings(),
  ports: array(object({ container: short(), hostIp: short(), hostPort: short() })),
  restart: object({ name: short(), maxRetries: int() }),
  sysctls: labels(),
  groupAdd: strings(),
  networks: array(object({ network: short(), aliases: strings(), ipv4Address: optional(short()), ipv6Address: optional(short()) })),
  networkDefinitions: array(
    object({
      name: short(),
      driver: short(),
      internal: bool(),
      attachable: bool(),
      ipv6: bool(),
      subnets: array(object({ subnet: short(), gateway: optional(short()), ipRange: optional(short()) })),
      options: labels(),
      labels: labels(),
      composeManaged: bool(),
    }),
  ),
}

export const dockerRun = object({
  ...dockerRunFields,
  platform: optional(platform),
  compose: optional(
    object({
      project: short(),
      service: short(),
      configFiles: strings(),
      workingDir: short(),
      sidecars: array(object({ service: short(), image: short(), run: optional(shallow(object(dockerRunFields))) })),
    }),
  ),
})

const appleRun = object({
  backend: literal('macos-container'),
  networks: strings(),
  internalNetworks: strings(),
  cpus: optional(int()),
  memoryBytes: optional(int()),
  mounts: array(object({ source: short(), target: short(), readOnly: bool() })),
  volumes: array(object({ name: short(), target: short(), readOnly: bool() })),
  tmpfs: array(object({ target: short(), options: strings() })),
  otherMounts: optional(array(object({ type: short(), source: short(), target: short() }))),
  user: optional(short()),
  workdir: optional(short()),
  envNames: strings(),
  readOnly: optional(bool()),
  dns: optional(nullable(object({ nameservers: strings(), domain: optional(short()), searchDomains: strings(), options: strings() }))),
  platform: optional(platform),
})

export const smolRun = object({
  backend: literal('smolmachines'),
  cpus: optional(int()),
  memoryMib: optional(int()),
  network: bool(),
  volumes: array(object({ host: short(), guest: short(), readOnly: bool() })),
  ports: strings(),
  workdir: optional(short()),
  envNames: strings(),
  user: optional(short()),
  platform: optional(platform),
})

export const runConfigModel = object({
  format: literal(RUN_CONFIG_FORMAT),
  // Version 1 records (no platform) are still read.
  version: numberIn([1, RUN_CONFIG_VERSION]),
  recordedAt: text(),
  run: discriminated('backend', [dockerRun, appleRun, smolRun]),
})

const SLUG = /^[a-z0-9][a-z0-9_.-]{0,62}$/
const slug = matching(
  fc.stringMatching(SLUG).filter((value) => !value.includes('..')),
  ['', '../x', 'a/b', 'a..b', '.x', '-x', 'Dev', 'a b', 'x'.repeat(64), 'a\n'],
)
const sha256 = matching(fc.stringMatching(/^[0-9a-f]{64}$/), ['a'.repeat(63), 'a'.repeat(65), 'A'.repeat(64), `sha256:${'a'.repeat(64)}`, ''])
const size = int(0)
const digest = { size, sha256 }
const volumeName = matching(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/), ['', '-v', '.v', 'a/b', 'a b', 'x'.repeat(256)])

export const manifestModel = object({
  format: literal(BUNDLE_FORMAT),
  // Versions 1 and 2 are read.
  version: numberIn([1, 2]),
  slug,
  backend: oneOf(BACKENDS),
  snapshot: matching(fc.string({ minLength: 1, maxLength: 512 }), ['', 'x'.repeat(513)]),
  createdAt: text(),
  // In depth above; here, that the manifest holds them to the same schemas.
  metadata: shallow(metadataModel),
  payload: object({
    name: matching(fc.stringMatching(/^snapshot\.[a-z.]+$/), ['snapshot', 'snapshot.', 'snapshot.TAR', '../snapshot.tar', 'snapshot.tar/../x', 'manifest.json', 'x/snapshot.tar']),
    compression: oneOf(COMPRESSIONS),
    ...digest,
  }),
  base: nullable(
    object({
      image: matching(fc.string({ minLength: 1, maxLength: 512 }), ['', 'x'.repeat(513)]),
      layers: array(matching(fc.stringMatching(/^sha256:[0-9a-f]{64}$/), ['a'.repeat(64), 'sha256:', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(64)}`]), 1000),
      archive: optional(oneOf(['docker-legacy', 'oci-layout'])),
    }),
  ),
  runConfig: optional(nullable(shallow(runConfigModel))),
  volumes: optional(
    object({
      carried: array(
        object({
          name: volumeName,
          target: text(),
          member: matching(fc.stringMatching(/^volumes\/[A-Za-z0-9_.-]+\.tar(\.zst|\.gz)?$/), ['volumes/a.tar.xz', 'volumes/../x.tar', 'state/a.tar', 'volumes/a b.tar', 'volumes/.tar/x']),
          ...digest,
        }),
        256,
      ),
      leftOut: array(volumeName, 256),
    }),
  ),
  binds: optional(array(text(4096), 256)),
  files: optional(
    array(
      object({
        name: oneOf(['docker-compose.yml', 'Dockerfile']),
        member: matching(fc.stringMatching(/^state\/[A-Za-z.-]+$/), ['state/', 'state/a/b', 'state/../x', 'x/Dockerfile', 'state/a_b']),
        ...digest,
      }),
      16,
    ),
  ),
})
