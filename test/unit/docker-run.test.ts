// The docker backend's run configuration as pure logic: what commit reads from `docker inspect`,
// the `docker create` flags resume builds from it, and the check of what the engine made.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ContainerInspect, NetworkInspect } from '../../lib/backends/docker-inspect.ts'
import { csvField, mountValue } from '../../lib/backends/docker-mount.ts'
import { createArgs, dockerPlatform, networkShortfalls, recordDockerRun, weakerThanRecorded } from '../../lib/backends/docker-run.ts'
import { OperationError } from '../../lib/errors.ts'
import { platformShortfalls, runConfigOf, runConfigSchema, type Platform } from '../../lib/run-config.ts'

const ID = 'e46f266d7152c0ffee0000000000000000000000000000000000000000000000'

/** `docker inspect` of a confined bottle, as engine 20.10 prints it (fields we do not read left out). */
function inspected(overrides: { HostConfig?: object; Config?: object } = {}): ContainerInspect {
  return {
    Id: ID,
    Name: '/bot-bottle-dev-abc12',
    Image: 'sha256:abc',
    Config: { Hostname: 'agentbox', User: 'node', WorkingDir: '/home/node', Env: ['API_TOKEN=secret-value', 'MODE=careful', 'PATH=/usr/bin'], Cmd: ['sleep', 'infinity'], Entrypoint: null, Labels: { mine: 'x', 'bot-bottle.slug': 'dev-abc12', 'from-image': 'y' }, Tty: false, OpenStdin: false, ...overrides.Config },
    HostConfig: {
      NetworkMode: 'bt-int',
      CapDrop: ['ALL'],
      CapAdd: ['CAP_NET_BIND_SERVICE'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 536870912,
      MemorySwap: 1073741824,
      PidsLimit: 200,
      ReadonlyRootfs: true,
      Runtime: 'runc',
      Tmpfs: { '/scratch': 'size=16m' },
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }] },
      Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
      Init: true,
      // What -v asked for: the bind's propagation is the engine's choice (rprivate), not asked.
      Binds: ['/srv/project:/project:ro'],
      ...overrides.HostConfig,
    },
    Mounts: [
      { Type: 'volume', Name: 'bt-ws', Source: '/var/lib/docker/volumes/bt-ws/_data', Destination: '/workspace', Driver: 'local', RW: true },
      { Type: 'volume', Name: 'f'.repeat(64), Destination: '/cache', Driver: 'local', RW: true },
      { Type: 'bind', Source: '/srv/project', Destination: '/project', RW: false, Propagation: 'rprivate' },
    ],
    NetworkSettings: { Networks: { 'bt-int': { Aliases: ['agent', ID.slice(0, 12)], IPAMConfig: { IPv4Address: '10.77.0.9' } } } },
  }
}

const network: NetworkInspect = { Name: 'bt-int', Driver: 'bridge', Internal: true, IPAM: { Config: [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.1' }] }, Options: { 'com.docker.network.bridge.enable_icc': 'false' }, Labels: {} }

const record = (container = inspected()) => recordDockerRun(container, { imageLabels: { 'from-image': 'y' }, secretNames: ['API_TOKEN'], networks: [network], containerNames: new Map([['c0ffee', 'gateway-box']]) })

describe('recording how a docker bottle runs', () => {
  it('keeps what confines it, blanks credentials, and leaves out what only this host means', () => {
    const run = record()
    expect(run).toMatchObject({
      user: 'node',
      hostname: 'agentbox',
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges'],
      readOnlyRootfs: true,
      init: true,
      resources: { memory: 536870912, memorySwap: 1073741824, pidsLimit: 200 },
      tmpfs: { '/scratch': 'size=16m' },
      restart: { name: 'on-failure', maxRetries: 3 },
      networkMode: 'bt-int',
    })
    expect(run.env).toEqual(['API_TOKEN=', 'MODE=careful', 'PATH=/usr/bin'])
    // Our labels and the image's are not the container's own.
    expect(run.labels).toEqual({ mine: 'x' })
    // The short id the engine adds as an alias means nothing elsewhere; a pinned address is kept.
    expect(run.networks).toEqual([{ network: 'bt-int', aliases: ['agent'], ipv4Address: '10.77.0.9' }])
    expect(run.networkDefinitions).toEqual([expect.objectContaining({ name: 'bt-int', internal: true, subnets: [{ subnet: '10.77.0.0/24', gateway: '10.77.0.1' }] })])
    expect(run.mounts).toEqual([
      { type: 'volume', source: 'bt-ws', target: '/workspace', readOnly: false, anonymous: false, driver: 'local' },
      { type: 'volume', source: 'f'.repeat(64), target: '/cache', readOnly: false, anonymous: true, driver: 'local' },
      { type: 'bind', source: '/srv/project', target: '/project', readOnly: true },
    ])
    expect(runConfigSchema.safeParse(runConfigOf(run)).success).toBe(true)
  })

  it('does not record a hostname the engine chose (the container id), and names a shared namespace by its container', () => {
    const run = record(inspected({ Config: { Hostname: ID.slice(0, 12) }, HostConfig: { NetworkMode: 'container:c0ffee' } }))
    expect(run.hostname).toBeUndefined()
    expect(run.networkMode).toBe('container:gateway-box')
  })

  it('does not record the hostname a shared network namespace brings (create refuses both)', () => {
    const run = record(inspected({ HostConfig: { NetworkMode: 'container:c0ffee' } }))
    expect(run.hostname).toBeUndefined()
  })

  it('keeps the propagation a bind was given, not the one the engine chose (rslave for a bind of /)', () => {
    const mounts = [
      { Type: 'bind', Source: '/', Destination: '/hostroot', RW: false, Propagation: 'rslave' },
      { Type: 'bind', Source: '/srv/a', Destination: '/a', RW: true, Propagation: 'rshared' },
      { Type: 'bind', Source: '/srv/b', Destination: '/b', RW: true, Propagation: 'rslave' },
    ]
    const container = { ...inspected({ HostConfig: { Binds: ['/:/hostroot:ro', '/srv/a:/a:rshared'], Mounts: [{ Type: 'bind', Source: '/srv/b', Target: '/b', BindOptions: { Propagation: 'rslave' } }] } }), Mounts: mounts }
    expect(record(container).mounts).toEqual([
      { type: 'bind', source: '/', target: '/hostroot', readOnly: true },
      { type: 'bind', source: '/srv/a', target: '/a', readOnly: false, propagation: 'rshared' },
      { type: 'bind', source: '/srv/b', target: '/b', readOnly: false, propagation: 'rslave' },
    ])
  })

  it('keeps the limits and profiles that confine it beyond the common flags', () => {
    const container = {
      ...inspected({
        HostConfig: {
          CgroupParent: '/agents',
          CpusetMems: '0',
          OomScoreAdj: 500,
          MemorySwappiness: 10,
          BlkioWeight: 300,
          BlkioWeightDevice: [{ Path: '/dev/vda', Weight: 200 }],
          BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: 1048576 }],
          StorageOpt: { size: '10G' },
          MaskedPaths: ['/proc/kcore', '/proc/keys'],
          ReadonlyPaths: ['/proc/sys'],
        },
      }),
      AppArmorProfile: 'docker-default',
      ProcessLabel: 'system_u:system_r:container_t:s0:c1,c2',
    }
    const run = record(container)
    expect(run).toMatchObject({ cgroupParent: '/agents', apparmorProfile: 'docker-default', selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2', maskedPaths: ['/proc/kcore', '/proc/keys'], readonlyPaths: ['/proc/sys'] })
    expect(run.resources).toMatchObject({ cpusetMems: '0', oomScoreAdj: 500, memorySwappiness: 10, storageSize: '10G', blkio: { weight: 300, weightDevices: [{ path: '/dev/vda', weight: 200 }], readBps: [{ path: '/dev/vda', rate: 1048576 }], writeBps: [], readIops: [], writeIops: [] } })
    expect(record(inspected({ HostConfig: { MemorySwappiness: -1 } })).resources.memorySwappiness).toBeNull()
    const { flags } = createArgs({ name: 'b', labels: {}, run, envFromHost: [], image: { entrypoint: null, cmd: null }, skip: {} })
    const line = flags.join(' ')
    for (const expected of ['--cgroup-parent /agents', '--cpuset-mems 0', '--oom-score-adj 500', '--memory-swappiness 10', '--blkio-weight 300', '--blkio-weight-device /dev/vda:200', '--device-read-bps /dev/vda:1048576', '--storage-opt size=10G']) expect(line).toContain(expected)
    // Profiles the engine applies are checked on what it made, not passed as flags.
    expect(line).not.toContain('docker-default')
    expect(runConfigSchema.safeParse(runConfigOf(run)).success).toBe(true)
  })

  it('keeps a read-only tmpfs mount read-only', () => {
    const run = record(inspected({ HostConfig: { Mounts: [{ Type: 'tmpfs', Target: '/cache', ReadOnly: true, TmpfsOptions: { SizeBytes: 1048576 } }] } }))
    expect(run.mounts.at(-1)).toEqual({ type: 'tmpfs', source: '', target: '/cache', readOnly: true, tmpfsOptions: 'size=1048576' })
    expect(createArgs({ name: 'b', labels: {}, run, envFromHost: [], image: { entrypoint: null, cmd: null }, skip: {} }).flags).toContain('type=tmpfs,dst=/cache,readonly,tmpfs-size=1048576')
  })
})

describe('the docker create flags of a recorded run', () => {
  const input = (run = record()) => ({ name: 'bot-bottle-dev-abc12', labels: { 'bot-bottle.slug': 'dev-abc12' }, run, envFromHost: ['API_TOKEN'], image: { entrypoint: null, cmd: ['sleep', 'infinity'] }, skip: {} })

  it('reproduce every confining setting, and pass credentials by name only', () => {
    const { flags, command } = createArgs(input())
    const pairs = (flag: string) => flags.flatMap((value, i) => (flags[i - 1] === flag ? [value] : []))
    expect(pairs('--cap-drop')).toEqual(['ALL'])
    expect(pairs('--security-opt')).toEqual(['no-new-privileges'])
    expect(pairs('--memory')).toEqual(['536870912'])
    expect(pairs('--memory-swap')).toEqual(['1073741824'])
    expect(pairs('--pids-limit')).toEqual(['200'])
    expect(pairs('--hostname')).toEqual(['agentbox'])
    expect(pairs('--network')).toEqual(['bt-int'])
    expect(pairs('--network-alias')).toEqual(['agent'])
    expect(pairs('--ip')).toEqual(['10.77.0.9'])
    expect(pairs('--tmpfs')).toEqual(['/scratch:size=16m'])
    expect(pairs('--ulimit')).toEqual(['nofile=1024:2048'])
    expect(pairs('--publish')).toEqual(['127.0.0.1:18080:8080/tcp'])
    expect(pairs('--device')).toEqual(['/dev/fuse:/dev/fuse:rwm'])
    expect(pairs('--restart')).toEqual(['on-failure:3'])
    expect(pairs('--runtime')).toEqual(['runc'])
    expect(pairs('--mount')).toEqual(['type=volume,src=bt-ws,dst=/workspace', `type=volume,src=${'f'.repeat(64)},dst=/cache`, 'type=bind,src=/srv/project,dst=/project,readonly'])
    expect(flags).toContain('--read-only')
    expect(flags).toContain('--init')
    expect(pairs('--env')).toEqual(['MODE=careful', 'PATH=/usr/bin', 'API_TOKEN'])
    expect(flags.join(' ')).not.toContain('secret-value')
    expect(command).toEqual([])
  })

  it('keep the IPC namespace private (an engine may default to shareable)', () => {
    const { flags } = createArgs(input({ ...record(), ipcMode: 'private' }))
    expect(flags.join(' ')).toContain('--ipc private')
  })

  it('give no hostname when the network namespace is shared (an older record may have one)', () => {
    const { flags } = createArgs(input({ ...record(), networkMode: 'container:gateway-box', hostname: 'gateway-box', domainname: 'lan' }))
    expect(flags).not.toContain('--hostname')
    expect(flags).not.toContain('--domainname')
    expect(flags.join(' ')).toContain('--network container:gateway-box')
  })

  it('share no namespace of a container that is gone, when relaxed', () => {
    const run = { ...record(), networkMode: 'container:gone', pidMode: 'container:gone', ipcMode: 'container:gone' }
    expect(createArgs(input(run)).flags.join(' ')).toContain('--pid container:gone')
    const { flags } = createArgs({ ...input(run), skip: { networkMode: true } })
    expect(flags.join(' ')).not.toContain('container:gone')
  })

  it('leave out only what the user relaxed', () => {
    const { flags } = createArgs({ ...input(), skip: { runtime: true, binds: new Set(['/srv/project']), devices: new Set(['/dev/fuse']) } })
    expect(flags).not.toContain('--runtime')
    expect(flags).not.toContain('--device')
    expect(flags.join(' ')).not.toContain('/srv/project')
    expect(flags).toContain('--cap-drop')
  })

  it('give the recorded entrypoint and command when the image (a rebuild) has others', () => {
    const run = { ...record(), entrypoint: ['/usr/bin/tini', '--'], cmd: ['agent', '--serve'] }
    const { flags, command } = createArgs({ ...input(run), image: { entrypoint: null, cmd: ['bash'] } })
    expect(flags.slice(-2)).toEqual(['--entrypoint', '/usr/bin/tini'])
    expect(command).toEqual(['--', 'agent', '--serve'])
  })
})

describe('checking what the engine made before it starts', () => {
  it('finds each limit the engine dropped, each capability kept, and privilege gained', () => {
    const run = record()
    expect(weakerThanRecorded(run, inspected())).toEqual([])
    const made = inspected({ HostConfig: { MemorySwap: -1, PidsLimit: null, CapDrop: [], SecurityOpt: [], Privileged: true, ReadonlyRootfs: false } })
    expect(weakerThanRecorded(run, made).map((problem) => problem.what)).toEqual([
      'memory-swap 1073741824 became -1 on this engine',
      'pids-limit 200 became unlimited on this engine',
      'the root filesystem is not read-only',
      'capability ALL was not dropped',
      'security option no-new-privileges is missing',
      'the container is privileged',
    ])
  })

  it('finds the limits an engine discards with a warning, another runtime, another user, and capabilities added', () => {
    const run = { ...record(), runtime: 'runsc', resources: { ...record().resources, memoryReservation: 1 << 28, cpuShares: 512, cpuPeriod: 100000, cpusetCpus: '0' } }
    const same = inspected({ HostConfig: { Runtime: 'runsc', MemoryReservation: 1 << 28, CpuShares: 512, CpuPeriod: 100000, CpusetCpus: '0' } })
    expect(weakerThanRecorded(run, same)).toEqual([])
    const made = inspected({ HostConfig: { Runtime: 'runc', CapAdd: ['CAP_NET_BIND_SERVICE', 'NET_ADMIN'] }, Config: { User: '' } })
    expect(weakerThanRecorded(run, made)).toEqual([
      { key: 'limits', what: `memory-reservation ${1 << 28} became unlimited on this engine` },
      { key: 'limits', what: 'cpu-shares 512 became unlimited on this engine' },
      { key: 'limits', what: 'cpu-period 100000 became unlimited on this engine' },
      { key: 'limits', what: 'cpuset-cpus 0 became all on this engine' },
      { key: 'runtime', what: 'runtime runsc became runc' },
      { key: 'limits', what: 'it runs as root, not node' },
      { key: 'limits', what: 'capability NET_ADMIN was added' },
    ])
    // A runtime the user relaxed is not found again; everything else still is.
    expect(weakerThanRecorded(run, made, { runtimeRelaxed: true }).map((problem) => problem.key)).toEqual(['limits', 'limits', 'limits', 'limits', 'limits', 'limits'])
  })

  it('finds namespaces, mounts, devices, sysctls and the engine\'s profiles that are not as recorded', () => {
    const run = { ...record(), pidMode: '', utsMode: '', sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, apparmorProfile: 'docker-default', maskedPaths: ['/proc/kcore'] }
    const as = { HostConfig: { Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, MaskedPaths: ['/proc/kcore', '/proc/keys'] } }
    expect(weakerThanRecorded(run, { ...inspected(as), AppArmorProfile: 'docker-default' })).toEqual([])
    const made = {
      ...inspected({
        HostConfig: { PidMode: 'host', UTSMode: 'host', Sysctls: { 'net.ipv4.ip_forward': '1' }, Devices: [{ PathOnHost: '/dev/kvm', PathInContainer: '/dev/kvm', CgroupPermissions: 'rwm' }], MaskedPaths: [] },
      }),
      Mounts: [{ Type: 'bind', Source: '/etc', Destination: '/hostetc', RW: true }, { Type: 'volume', Name: 'other', Destination: '/workspace', RW: true }],
      AppArmorProfile: 'unconfined',
    }
    expect(weakerThanRecorded(run, made)).toEqual([
      { key: 'apparmor', what: 'AppArmor profile docker-default became unconfined' },
      { key: 'limits', what: 'no path of /proc and /sys is masked' },
      { key: 'limits', what: 'pid namespace private became host' },
      { key: 'limits', what: 'uts namespace private became host' },
      { key: 'volumes', what: 'volume bt-ws is not mounted at /workspace' },
      { key: 'volumes', what: `volume ${'f'.repeat(64)} is not mounted at /cache` },
      { key: 'binds', what: 'bind /srv/project is not mounted at /project' },
      { key: 'binds', what: 'host path /etc is mounted at /hostetc, which it was not' },
      { key: 'devices', what: 'device /dev/fuse is not at /dev/fuse' },
      { key: 'devices', what: 'device /dev/kvm was added' },
      { key: 'limits', what: 'sysctl net.ipv4.ip_unprivileged_port_start=0 became unset' },
      { key: 'limits', what: 'sysctl net.ipv4.ip_forward=1 was added' },
    ])
    // What the user relaxed is left out on purpose: not found again.
    const relaxed = { ...inspected(as), AppArmorProfile: 'docker-default', Mounts: inspected().Mounts!.filter((mount) => mount.Type !== 'bind') }
    expect(weakerThanRecorded(run, relaxed, { skip: { binds: new Set(['/srv/project']) } })).toEqual([])
  })

  it('refuses an existing network that confines less than the recorded one', () => {
    const [recorded] = record().networkDefinitions
    expect(networkShortfalls(recorded!, network)).toEqual([])
    expect(networkShortfalls(recorded!, { ...network, Internal: false, Options: {} })).toEqual(['is not internal', 'has com.docker.network.bridge.enable_icc=unset, not false'])
    expect(networkShortfalls(recorded!, { ...network, EnableIPv6: true })).toEqual(['has IPv6, which the recorded one had not'])
    expect(networkShortfalls({ ...recorded!, ipv6: true }, { ...network, EnableIPv6: true })).toEqual([])
  })
})

describe('the confinement the platform adds', () => {
  const info = (securityOptions: string[], more: object = {}) => ({ serverVersion: '20.10.24', runtimes: ['runc'], containerdStore: false, securityOptions, cgroupVersion: '1', operatingSystem: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0', name: 'host', ...more })

  it('reads it from the engine\'s security options, its OS and kernel', () => {
    expect(dockerPlatform(info(['name=seccomp,profile=default', 'name=apparmor']))).toEqual({ name: 'Docker 20.10.24 on Debian GNU/Linux 12 (bookworm)', vm: false, rootless: false, userns: false, seccomp: 'default', apparmor: true, selinux: false, cgroupVersion: '1' })
    expect(dockerPlatform(info(['name=seccomp,profile=builtin', 'name=userns', 'name=rootless', 'name=selinux', 'name=cgroupns']))).toMatchObject({ userns: true, rootless: true, seccomp: 'builtin', selinux: true, apparmor: false })
    expect(dockerPlatform(info([]))).not.toHaveProperty('seccomp')
    for (const vm of [{ operatingSystem: 'Docker Desktop' }, { kernelVersion: '6.10.14-linuxkit' }, { kernelVersion: '5.15.167.4-microsoft-standard-WSL2' }, { operatingSystem: 'OrbStack' }, { name: 'colima' }]) expect(dockerPlatform(info([], vm)).vm).toBe(true)
  })

  it('finds what this platform lacks of the one the bottle ran on, and not what it has more of', () => {
    const plain: Platform = { name: 'here', vm: false, rootless: false, userns: false, seccomp: 'default', apparmor: false, selinux: false }
    const ran: Platform = { name: 'there', vm: true, rootless: true, userns: true, seccomp: 'default', apparmor: true, selinux: true }
    expect(platformShortfalls(ran, { ...plain, seccomp: undefined }).map((shortfall) => shortfall.key)).toEqual(['vm', 'rootless', 'userns', 'seccomp', 'apparmor', 'selinux'])
    expect(platformShortfalls(ran, ran)).toEqual([])
    expect(platformShortfalls(plain, ran)).toEqual([])
    // 20.10's "default" is 29's "builtin": the same profile.
    expect(platformShortfalls(plain, { ...plain, seccomp: 'builtin' })).toEqual([])
    expect(platformShortfalls({ ...plain, seccomp: 'custom' }, plain).map((shortfall) => shortfall.key)).toEqual(['seccomp'])
    // A rootless engine remaps users as well.
    expect(platformShortfalls({ ...plain, userns: true }, { ...plain, rootless: true })).toEqual([])
  })
})

/**
 * Go's encoding/csv Reader.Read as docker/cli's opts/mount.go calls it (Comma ',', LazyQuotes and
 * TrimLeadingSpace off): the first record. Lines end at \n, a \r\n reads as \n, a \r before the
 * end is dropped, empty lines are skipped; a quoted field may span lines and doubles its quotes;
 * a quote in an unquoted field, or text after a closing quote, is an error.
 */
function goCsvRead(input: string): string[] {
  const lines: string[] = []
  for (let rest = input; rest.length > 0; ) {
    const end = rest.indexOf('\n')
    let line = end === -1 ? rest : rest.slice(0, end + 1)
    rest = end === -1 ? '' : rest.slice(end + 1)
    if (line.endsWith('\r\n')) line = `${line.slice(0, -2)}\n`
    else if (end === -1 && line.endsWith('\r')) line = line.slice(0, -1)
    lines.push(line)
  }
  let next = lines.findIndex((line) => line !== '\n')
  if (next === -1) throw new Error('EOF')
  let line = lines[next++]!
  const lengthNL = (text: string) => (text.endsWith('\n') ? 1 : 0)
  const fields: string[] = []
  for (;;) {
    if (!line.startsWith('"')) {
      const comma = line.indexOf(',')
      const field = comma === -1 ? line.slice(0, line.length - lengthNL(line)) : line.slice(0, comma)
      if (field.includes('"')) throw new Error('bare " in non-quoted field')
      fields.push(field)
      if (comma === -1) return fields
      line = line.slice(comma + 1)
      continue
    }
    line = line.slice(1)
    let field = ''
    for (;;) {
      const quote = line.indexOf('"')
      if (quote !== -1) {
        field += line.slice(0, quote)
        line = line.slice(quote + 1)
        if (line.startsWith('"')) {
          field += '"'
          line = line.slice(1)
        } else if (line.startsWith(',')) {
          line = line.slice(1)
          break
        } else if (lengthNL(line) === line.length) {
          fields.push(field)
          return fields
        } else throw new Error('extraneous or missing " in quoted-field')
      } else if (line.length > 0) {
        field += line
        if (next >= lines.length) throw new Error('extraneous or missing " in quoted-field')
        line = lines[next++]!
      } else throw new Error('extraneous or missing " in quoted-field')
    }
    fields.push(field)
  }
}

/** What docker/cli makes of a --mount value: each field split at its first "=". */
const dockerReads = (value: string) => Object.fromEntries(goCsvRead(value).map((field) => [field.split('=', 1)[0]!, field.includes('=') ? field.slice(field.indexOf('=') + 1) : true]))

describe('the --mount value docker reads as CSV', () => {
  it('quotes a field with a comma or a quote, and docker reads back the same source', () => {
    expect(mountValue(['type=bind', 'src=/srv/a,b', 'dst=/project'])).toBe('type=bind,"src=/srv/a,b",dst=/project')
    expect(mountValue(['type=bind', 'src=/srv/say "hi"', 'dst=/project'])).toBe('type=bind,"src=/srv/say ""hi""",dst=/project')
    expect(mountValue(['type=bind', 'src=/srv/plain', 'dst=/project', 'readonly'])).toBe('type=bind,src=/srv/plain,dst=/project,readonly')
    for (const source of ['/srv/a,b', '/srv/say "hi"', '"/srv/quoted"', '/srv/a,dst=/etc', '/srv/line\nbreak', '/srv/cr\rhere', '/srv/ends-cr\r', '/srv/,', '/srv/""', '/srv/ lead', '/srv/é,ü']) {
      expect(dockerReads(mountValue(['type=bind', `src=${source}`, 'dst=/project', 'readonly'])), source).toEqual({ type: 'bind', src: source, dst: '/project', readonly: true })
    }
  })

  it('would otherwise let a host path choose another source and target', () => {
    const source = '/srv/a,dst=/etc'
    expect(dockerReads(['type=bind', `src=${source}`, 'dst=/project'].join(','))).toEqual({ type: 'bind', src: '/srv/a', dst: '/project' })
    expect(() => goCsvRead(['type=bind', 'src=/srv/say "hi"', 'dst=/project'].join(','))).toThrow(/bare "/)
  })

  it('round-trips any path CSV can hold, and refuses one it cannot (a \\r\\n, a NUL)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (path) => {
        if (path.includes('\r\n') || path.includes('\0')) {
          expect(() => mountValue(['type=bind', `src=${path}`])).toThrow(OperationError)
          return
        }
        expect(goCsvRead(mountValue(['type=bind', `src=${path}`, 'dst=/x']))).toEqual(['type=bind', `src=${path}`, 'dst=/x'])
      }),
      { numRuns: 3000 },
    )
    expect(() => csvField('src=/srv/a\r\nb')).toThrow(/cannot hold a carriage return before a line feed/)
  })

  it('is what resume passes for binds, volumes and tmpfs mounts; a relative host path is refused', () => {
    const bound = (source: string) => record(inspected({ HostConfig: { Binds: [] } })).mounts.map((mount) => (mount.type === 'bind' ? { ...mount, source } : mount))
    const flagsFor = (source: string) => createArgs({ name: 'b', labels: {}, run: { ...record(), mounts: bound(source) }, envFromHost: [], image: { entrypoint: null, cmd: null }, skip: {} }).flags
    const mounts = (flags: string[]) => flags.flatMap((value, i) => (flags[i - 1] === '--mount' ? [value] : []))
    expect(mounts(flagsFor('/srv/a,b "c"'))).toContain('type=bind,"src=/srv/a,b ""c""",dst=/project,readonly')
    expect(dockerReads(mounts(flagsFor('/srv/a,b "c"')).at(-1)!)).toEqual({ type: 'bind', src: '/srv/a,b "c"', dst: '/project', readonly: true })
    for (const relative of ['.', './project', 'project']) expect(() => flagsFor(relative), relative).toThrow(/relative host path/)
  })
})
