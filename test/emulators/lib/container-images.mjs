// @ts-check
// `container build` and `container image …`.
//   build [-t NAME]… [-f FILE] [--build-arg K=V]… [-l K=V]… [--no-cache] [CONTEXT]: the classic docker
//     builder; a Dockerfile of 16 KiB or more is refused (apple/container#735).
//   image list|ls [--format json|table|yaml|toml] [-q] [-v], image inspect REF…, image delete|rm,
//     image tag, image save [-o PATH] REF… (OCI image-layout tar), image load [-i PATH].
//   JSON of list and inspect: [ImageResource] (see container-render.mjs). An image "not found"
//   error reads `image not found: REF` (TestCLIImagesCommand.testInspectMissingImageFails).
// MULTI-PLATFORM IMAGES: the engine keeps one platform per image, so a docker image labelled
//   `bottle-tasks.emulator.variant.<os>/<arch>[/<variant>]=<another docker image>` is shown with one
//   more variant per such label (that image's config, under that platform), listed BEFORE the
//   image's own platform, the way an index lists other platforms first. `run` runs the image itself.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { CliError, flag, option, parse, usageError } from './container-args.mjs'
import { LABELS, docker, inspectImage, inspectImages, stream } from './container-docker.mjs'
import { denormalizeReference, nameAndTag, normalizeReference } from './container-reference.mjs'
import { imageResource, renderJSON, renderTable, renderTOML, renderYAML } from './container-render.mjs'

/** @typedef {import('./container-docker.mjs').DockerImage} DockerImage */
/** @typedef {import('./container-render.mjs').Variant} Variant */
/** @typedef {import('./container-args.mjs').Command} Command */

/** @param {string} text */
const out = (text) => process.stdout.write(`${text}\n`)

/** The variants of an image: the ones its labels declare, then its own platform. @param {DockerImage} image @returns {Variant[]} */
export function variantsOf(image) {
  const own = { os: image.Os, architecture: image.Architecture, ...(image.Variant ? { variant: image.Variant } : {}) }
  /** @type {Variant[]} */
  const declared = []
  for (const [key, ref] of Object.entries(image.Config?.Labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (!key.startsWith(LABELS.variant)) continue
    const [os = '', architecture = '', variant] = key.slice(LABELS.variant.length).split('/')
    const variantImage = inspectImage(ref)
    if (!variantImage) throw new CliError(`emulator: variant image ${ref} of ${key} is not in the engine`)
    if (os === own.os && architecture === own.architecture) continue
    declared.push({ platform: { os, architecture, ...(variant ? { variant } : {}) }, image: variantImage })
  }
  return [...declared, { platform: own, image }]
}

/** @param {string} reference @param {DockerImage} image */
const resourceOf = (reference, image) => imageResource(reference, image, variantsOf(image))

/** @param {string[]} argv */
export async function build(argv) {
  const command = { name: 'container build', usage: 'container build [<options>] [<context-dir>]' }
  const parsed = parse(argv, command, {
    options: [
      option('tag', ['-t', '--tag'], { repeat: true, valueName: 'name' }),
      option('file', ['-f', '--file'], { valueName: 'path' }),
      option('buildArg', ['--build-arg'], { repeat: true, valueName: 'key=val' }),
      option('label', ['-l', '--label'], { repeat: true, valueName: 'key=val' }),
      option('target', ['--target'], { valueName: 'stage' }),
      option('progress', ['--progress'], { valueName: 'type', choices: ['auto', 'plain', 'tty'] }),
      flag('noCache', '--no-cache'),
      flag('pull', '--pull'),
      flag('quiet', '-q', '--quiet'),
    ],
    rest: '<context-dir>',
    unsupported: ['-a', '--arch', '-c', '--cpus', '-m', '--memory', '-o', '--output', '--os', '--platform', '--secret', '--ssh',
      '--vsock-port', '--builder', '--dns', '--cache-in', '--cache-out'],
  })
  if (parsed.rest.length > 1) throw usageError(`Unexpected argument '${parsed.rest[1]}'`, command)
  const context = parsed.rest[0] ?? '.'
  if (!existsSync(context)) throw usageError(`context dir does not exist ${context}`, command)
  const dockerfile = resolveDockerfile(parsed.string('file'), context, command)
  // The real build reads the whole Dockerfile into one message and refuses big ones (apple/container#735).
  if (dockerfile !== '-' && statSync(dockerfile).size >= 16 * 1024) {
    throw new CliError(`Dockerfile size (${statSync(dockerfile).size} bytes) exceeds the maximum allowed size of 16384 bytes`)
  }
  const given = parsed.strings('tag')
  const tags = (given.length > 0 ? given : [randomUUID()]).map(normalizeReference)

  const dockerArgs = ['build', '--file', dockerfile]
  for (const tag of tags) dockerArgs.push('--tag', tag)
  for (const entry of parsed.strings('buildArg')) dockerArgs.push('--build-arg', entry)
  for (const entry of parsed.strings('label')) dockerArgs.push('--label', entry)
  const target = parsed.string('target')
  if (target) dockerArgs.push('--target', target)
  if (parsed.flag('noCache')) dockerArgs.push('--no-cache')
  if (parsed.flag('pull')) dockerArgs.push('--pull')
  if (parsed.flag('quiet')) dockerArgs.push('--quiet')
  // The engine has no buildx: the classic builder. Its log goes to stderr; stdout gets the image names.
  const code = await stream('docker', [...dockerArgs, context], { env: { DOCKER_BUILDKIT: '0' }, stdout: 'stderr' })
  if (code !== 0) throw new CliError(`build failed (docker build exited ${code})`)
  out(tags.join('\n'))
  return 0
}

/** @param {string | undefined} file @param {string} context @param {Command} command */
function resolveDockerfile(file, context, command) {
  if (file === '-') return '-'
  if (file !== undefined) {
    if (!existsSync(file)) throw usageError(`dockerfile does not exist ${file}`, command)
    return resolve(file)
  }
  for (const name of ['Dockerfile', 'Containerfile']) if (existsSync(join(context, name))) return resolve(context, name)
  throw usageError('dockerfile not found in context dir', command)
}

/** @param {string[]} argv */
async function imageList(argv) {
  const command = { name: 'container image list', usage: 'container image list [--format <format>] [--quiet] [--verbose]' }
  const parsed = parse(argv, command, {
    options: [flag('quiet', '-q', '--quiet'), flag('verbose', '-v', '--verbose'), option('format', ['--format'], { choices: ['json', 'table', 'yaml', 'toml'] })],
  })
  const format = parsed.string('format')
  const modifier = parsed.flag('quiet') || parsed.flag('verbose')
  if (parsed.flag('quiet') && parsed.flag('verbose')) throw new CliError('cannot use flag --quiet and --verbose together')
  if (modifier && format === 'json') throw new CliError('cannot use flag --quiet or --verbose along with --format json')
  const images = taggedImages()
  const resources = () => images.map(({ reference, image }) => resourceOf(reference, image))
  if (format === 'json') out(renderJSON(resources()))
  else if (format === 'yaml') out(renderYAML(resources()))
  else if (format === 'toml') out(renderTOML('images', resources()))
  else if (parsed.flag('quiet')) {
    if (images.length > 0) out(images.map(({ reference }) => denormalizeReference(reference)).join('\n'))
  } else {
    const rows = [['NAME', 'TAG', 'DIGEST']]
    for (const { reference, image } of images) {
      const { name, tag } = nameAndTag(reference)
      rows.push([name, tag, image.Id.replace(/^sha256:/, '').slice(0, 12)])
    }
    out(renderTable(rows))
  }
  return 0
}

/** Every tagged image in the engine, by normalized reference (the real store has no untagged images). */
function taggedImages() {
  const { stdout } = docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])
  const references = [...new Set(stdout.split('\n').filter((line) => line && !line.includes('<none>')))]
  const images = inspectImages(references)
  return references
    .flatMap((reference) => {
      const image = images.get(reference)
      return image ? [{ reference: normalizeReference(reference), image }] : []
    })
    .sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0))
}

/** @param {string[]} argv */
async function imageInspect(argv) {
  const command = { name: 'container image inspect', usage: 'container image inspect <images> ...' }
  const parsed = parse(argv, command, { positionals: ['<images>'], rest: '<images>' })
  const found = []
  const missing = []
  for (const ref of [...parsed.args, ...parsed.rest]) {
    const reference = normalizeReference(ref)
    const image = inspectImage(reference)
    if (image) found.push(resourceOf(reference, image))
    else missing.push(ref)
  }
  if (found.length > 0) out(renderJSON(found))
  for (const ref of missing) process.stderr.write(`Error: image not found: ${ref}\n`)
  return missing.length > 0 ? 1 : 0
}

/** @param {string[]} argv */
async function imageDelete(argv) {
  const command = { name: 'container image delete', usage: 'container image delete [--all] [--force] [<images> ...]' }
  const parsed = parse(argv, command, { options: [flag('all', '-a', '--all'), flag('force', '-f', '--force')], rest: '<images>' })
  const refs = parsed.rest
  if (refs.length === 0 && !parsed.flag('all')) throw new CliError('no images specified and --all not supplied')
  if (refs.length > 0 && parsed.flag('all')) throw new CliError('explicitly supplied images conflict with the --all flag')
  if (parsed.flag('all')) throw new CliError("'image delete --all' is not supported by this emulator (the engine is shared)")
  const failures = []
  let deleted = 0
  for (const ref of refs) {
    const reference = normalizeReference(ref)
    if (!inspectImage(reference)) {
      if (!parsed.flag('force')) failures.push(`${ref} (image not found)`)
      continue
    }
    const result = docker(['image', 'rm', reference], { allowFail: true })
    if (result.code !== 0) {
      process.stderr.write(`Error: failed to delete ${reference}: ${result.stderr.trim()}\n`)
      failures.push(reference)
      continue
    }
    out(reference)
    deleted++
  }
  if (deleted > 0) out('Reclaimed Zero KB in disk space')
  if (failures.length > 0) throw new CliError(`failed to delete one or more images: ${failures.join(', ')}`)
  return 0
}

/** @param {string[]} argv */
async function imageTag(argv) {
  const command = { name: 'container image tag', usage: 'container image tag <source> <target>' }
  const parsed = parse(argv, command, { positionals: ['<source>', '<target>'] })
  const [source, target] = [parsed.arg(0), parsed.arg(1)]
  const sourceReference = normalizeReference(source)
  if (!inspectImage(sourceReference)) throw new CliError(`image not found: ${source}`)
  docker(['tag', sourceReference, normalizeReference(target)])
  out(target)
  return 0
}

const NAME_ANNOTATIONS = ['com.apple.containerization.image.name', 'io.containerd.image.name', 'org.opencontainers.image.ref.name']

/** @typedef {{ digest: string, annotations?: Record<string, string> }} IndexEntry */

/**
 * An OCI image-layout tar (oci-layout, index.json, blobs/sha256/…), each manifest named by the
 * three annotations the real tool writes, all holding the normalized reference.
 * @param {string[]} argv
 */
async function imageSave(argv) {
  const command = { name: 'container image save', usage: 'container image save [--output <output>] <references> ...' }
  const parsed = parse(argv, command, {
    options: [option('output', ['-o', '--output'])],
    positionals: ['<references>'],
    rest: '<references>',
    unsupported: ['-a', '--arch', '--os', '--platform'],
  })
  const refs = [...parsed.args, ...parsed.rest]
  const references = refs.map(normalizeReference)
  const missing = refs.filter((_, i) => !inspectImage(/** @type {string} */ (references[i])))
  if (missing.length > 0) throw new CliError(`failed to save image(s): image not found: ${missing.join(', ')}`)
  const output = parsed.string('output')

  const work = mkdtempSync(join(tmpdir(), 'container-emu-save-'))
  try {
    const layout = join(work, 'layout')
    for (const [i, reference] of references.entries()) {
      // `docker save` (legacy archive or, engine 25+, an OCI layout with a manifest.json) read by
      // skopeo as a file: skopeo's docker-daemon transport speaks an API current engines refuse.
      const saved = join(work, `save-${i}.tar`)
      docker(['save', '-o', saved, reference])
      const copy = await stream('skopeo', ['copy', '--quiet', `docker-archive:${saved}`, `oci:${layout}:ref-${i}`], { stdout: 'stderr' })
      if (copy !== 0) throw new CliError(`failed to save image ${reference} (skopeo exited ${copy})`)
    }
    const indexPath = join(layout, 'index.json')
    /** @type {{ manifests: IndexEntry[] }} */
    const index = JSON.parse(readFileSync(indexPath, 'utf8'))
    for (const manifest of index.manifests) {
      const reference = references[Number((manifest.annotations?.['org.opencontainers.image.ref.name'] ?? '').slice('ref-'.length))] ?? ''
      manifest.annotations = Object.fromEntries(NAME_ANNOTATIONS.map((key) => [key, reference]))
    }
    writeFileSync(indexPath, JSON.stringify(index))
    const tarArgs = ['-C', layout, '-cf', output === undefined ? '-' : resolve(output), 'oci-layout', 'index.json', 'blobs']
    const code = await stream('tar', tarArgs)
    if (code !== 0) throw new CliError(`failed to write the archive (tar exited ${code})`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  // The references are reported only when the archive did not go to stdout.
  if (output !== undefined) out(refs.join('\n'))
  return 0
}

/** @param {string[]} argv */
async function imageLoad(argv) {
  const command = { name: 'container image load', usage: 'container image load [--input <input>] [--force]' }
  const parsed = parse(argv, command, { options: [option('input', ['-i', '--input']), flag('force', '-f', '--force')] })
  const work = mkdtempSync(join(tmpdir(), 'container-emu-load-'))
  try {
    const input = parsed.string('input')
    const archive = input === undefined ? '-' : resolve(input)
    if (archive !== '-' && !existsSync(archive)) {
      out(`File does not exist ${archive}`)
      return 1
    }
    const layout = join(work, 'layout')
    mkdirSync(layout)
    const untar = await stream('tar', ['-xf', archive, '-C', layout])
    if (untar !== 0) throw new CliError('failed to load archive: not a tar file')
    const indexPath = join(layout, 'index.json')
    if (!existsSync(join(layout, 'oci-layout')) || !existsSync(indexPath)) {
      throw new CliError('failed to load archive: not an OCI image layout (no oci-layout or index.json)')
    }
    /** @type {{ manifests: IndexEntry[] }} */
    const index = JSON.parse(readFileSync(indexPath, 'utf8'))
    const references = index.manifests.map((manifest) => {
      const name = NAME_ANNOTATIONS.map((key) => manifest.annotations?.[key]).find(Boolean)
      if (!name) throw new CliError(`failed to load archive: manifest ${manifest.digest} has no image name annotation`)
      return normalizeReference(name)
    })
    // skopeo picks a manifest by org.opencontainers.image.ref.name: give each a name of our own.
    index.manifests.forEach((manifest, i) => (manifest.annotations = { 'org.opencontainers.image.ref.name': `ref-${i}` }))
    writeFileSync(indexPath, JSON.stringify(index))
    for (const [i, reference] of references.entries()) {
      const archive = join(work, `load-${i}.tar`)
      const copy = await stream('skopeo', ['copy', '--quiet', `oci:${layout}:ref-${i}`, `docker-archive:${archive}:${reference}`], { stdout: 'stderr' })
      if (copy !== 0) throw new CliError(`failed to load image ${reference} (skopeo exited ${copy})`)
      docker(['load', '-i', archive])
    }
    out(['Loaded images:', ...references].join('\n'))
    return 0
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** @type {Record<string, (argv: string[]) => Promise<number>>} */
export const IMAGE_SUBCOMMANDS = {
  list: imageList,
  ls: imageList,
  inspect: imageInspect,
  delete: imageDelete,
  rm: imageDelete,
  tag: imageTag,
  save: imageSave,
  load: imageLoad,
}
