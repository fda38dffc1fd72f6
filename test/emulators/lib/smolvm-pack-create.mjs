// @ts-check
// `pack create (--image REF | --from-vm NAME) -o PATH [--cpus N] [--mem MiB] [--entrypoint CMD]`.
// See smolvm-cli.mjs for what it does and smolvm-pack.mjs for the artifact it writes.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { UsageError, parse, parseU32, parseU8 } from './smolvm-args.mjs'
import { DEFAULT_CPUS, DEFAULT_MEM, SmolError, fail, packLoopbackUnreachable, say } from './smolvm-common.mjs'
import { cleanDockerMessage, docker, inspectImage } from './smolvm-docker.mjs'
import { getMachine, isLocalImagePath, pullImage, releaseImage } from './smolvm-machine.mjs'
import { SIDECAR_EXTENSION, writeArtifact, writeLauncher } from './smolvm-pack.mjs'

/** @type {import('./smolvm-args.mjs').Spec} */
export const PACK_CREATE_SPEC = {
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
}

/** The registry host of a reference, when it names one on loopback. @param {string} ref */
function loopbackRegistry(ref) {
  const host = ref.split('/', 1)[0] ?? ''
  if (!ref.includes('/')) return undefined
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host) ? host : undefined
}

/**
 * The image as the registry serves it, as an untagged docker-save archive in a new temporary
 * directory (skopeo); undefined without skopeo, or where skopeo cannot convert the manifest. Plain
 * HTTP for a registry on loopback.
 * @param {string} ref @param {boolean} plainHttp
 */
function registryArchive(ref, plainHttp) {
  const dir = mkdtempSync(join(tmpdir(), 'smolvm-emulator-pack-'))
  const archive = join(dir, 'image.tar')
  const copied = spawnSync('skopeo', ['copy', '--quiet', ...(plainHttp ? ['--src-tls-verify=false'] : []), `docker://${ref}`, `docker-archive:${archive}`], { encoding: 'utf8' })
  if (copied.error && /** @type {NodeJS.ErrnoException} */ (copied.error).code === 'ENOENT') {
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  if (copied.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    // skopeo 1.9 cannot write some manifests (an engine 29 push) as a docker-archive: the engine's copy then.
    if (/manifest conversion/.test(copied.stderr || '')) return undefined
    fail(`failed to pull image '${ref}': ${(copied.stderr || '').trim().split('\n').pop()}`)
  }
  return archive
}

/** @param {string[]} argv */
export async function cmdPackCreate(argv) {
  const { opts } = parse(PACK_CREATE_SPEC, argv)
  const image = opts.string('image')
  const fromVm = opts.string('from-vm')
  if (image === undefined && fromVm === undefined) {
    throw new UsageError('the following required arguments were not provided:\n  --image <IMAGE>', PACK_CREATE_SPEC)
  }
  const output = opts.string('output') ?? ''
  if (output.endsWith(SIDECAR_EXTENSION)) {
    fail(`output path must not end in ${SIDECAR_EXTENSION}: '${output}' (pack writes the launcher PATH and the artifact PATH${SIDECAR_EXTENSION}; use -o ${output.slice(0, -SIDECAR_EXTENSION.length) || 'NAME'})`)
  }
  const out = resolve(output)
  if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) fail(`pack binary: No such file or directory (os error 2): ${dirname(output)}`)
  if (existsSync(out) && statSync(out).isDirectory()) fail(`pack binary: Is a directory (os error 21): ${output}`)
  const cpus = opts.number('cpus') ?? DEFAULT_CPUS
  const mem = opts.number('mem') ?? DEFAULT_MEM
  const entrypointOption = opts.string('entrypoint')
  const entrypointOverride = entrypointOption !== undefined ? entrypointOption.split(/\s+/).filter(Boolean) : null
  const created = Math.floor(Date.now() / 1000)

  /** @type {import('./smolvm-pack.mjs').PackManifest} */
  let manifest
  /** @type {{ imageId: string } | { archive: string }} */
  let payload
  let cleanup = () => {}
  if (image !== undefined) {
    if (isLocalImagePath(image)) fail(`pack create --image takes a registry reference, not a local archive: '${image}' (push the image to a registry first)`)
    const loopback = loopbackRegistry(image)
    if (loopback && packLoopbackUnreachable()) {
      // SMOLVM_EMULATOR_PACK_LOOPBACK=unreachable: the helper VM that pulls has no route to it.
      fail(`failed to pull image '${image}': Get "http://${loopback}/v2/": dial tcp ${loopback}: connect: connection refused`)
    }
    const { id, pulledTag } = pullImage(image)
    const fetched = registryArchive(image, Boolean(loopback))
    cleanup = () => {
      releaseImage(pulledTag)
      if (fetched) rmSync(dirname(fetched), { recursive: true, force: true })
    }
    payload = fetched ? { archive: fetched } : { imageId: id }
    const info = inspectImage(id)
    if (!info) return fail(`failed to pull image '${image}': not found after pull`)
    const repo = image.replace(/@.*$/, '').replace(/:[^/:]+$/, '')
    const digest = (info.RepoDigests ?? []).find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? ''
    say(`Image: ${image} (${info.RootFS?.Layers?.length ?? 0} layers, ${info.Size ?? 0} bytes)`)
    manifest = baseManifest(info, { image, digest, cpus, mem, network: false, entrypointOverride, created, source: { kind: 'image', ref: image } })
  } else {
    const vmName = fromVm ?? ''
    const m = getMachine(vmName)
    if (!m) return fail(`VM '${vmName}' not found`)
    if (m.running) fail(`VM '${vmName}' is running. Stop it first with: smolvm machine stop --name ${vmName}`)
    say(`Packing VM '${vmName}' snapshot...`)
    const original = inspectImage(m.imageId)
    const ep = original?.Config?.Entrypoint ?? []
    const cm = original?.Config?.Cmd ?? []
    const c = docker(['commit', '--change', `ENTRYPOINT ${JSON.stringify(ep)}`, '--change', `CMD ${JSON.stringify(cm)}`, m.container])
    if (c.code !== 0) fail(`pack from VM: ${cleanDockerMessage(c.stderr)}`)
    const committed = c.stdout.trim()
    payload = { imageId: committed }
    cleanup = () => releaseImage(committed)
    const info = inspectImage(committed)
    if (!info) return fail(`pack from VM: the snapshot of '${vmName}' is gone`)
    // pack_from_vm (src/cli/pack.rs): "Entrypoint baseline: VmRecord > /bin/sh default"; cmd = record's
    const entrypoint = entrypointOverride ?? (m.entrypoint.length > 0 ? m.entrypoint : ['/bin/sh'])
    manifest = baseManifest(info, { image: m.image ?? `vm://${vmName}`, digest: '', cpus, mem, network: m.network, entrypointOverride: entrypoint, created, source: { kind: 'vm', name: vmName } })
    manifest.cmd = m.cmd
    // The snapshot's own config says who its sleeping process ran as, not who exec runs as.
    manifest.user = m.user || null
  }
  try {
    const { sidecar, size } = await writeArtifact(out, payload, manifest)
    writeLauncher(out, manifest)
    const stub = statSync(out).size
    say(`Packed: ${output} (stub: ${Math.floor(stub / 1024)}KB, total: ${Math.floor((stub + size) / 1024)}KB)`)
    say(`Assets: ${output}${SIDECAR_EXTENSION} (${Math.floor(statSync(sidecar).size / 1024)}KB compressed)`)
    say(`\nRun with: ${output}`)
    say('Note: Keep the .smolmachine file alongside the binary')
    say('Options: --help for usage')
  } catch (err) {
    if (err instanceof SmolError) throw err
    fail(`pack binary: ${err instanceof Error ? err.message : err}`)
  } finally {
    cleanup()
  }
}

/**
 * @param {import('./smolvm-docker.mjs').DockerImage} info
 * @param {{ image: string, digest: string, cpus: number, mem: number, network: boolean, entrypointOverride: string[] | null, created: number, source: object }} fields
 * @returns {import('./smolvm-pack.mjs').PackManifest}
 */
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
