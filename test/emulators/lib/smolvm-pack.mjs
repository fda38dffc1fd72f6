// @ts-check
// The emulator's `.smolmachine` artifact: write (pack create) and read/load (machine create --from).
//
// FORMAT (emulator-specific; real smolvm writes zstd assets + manifest JSON + a binary footer, with
// the VM's layers inside — this keeps the same idea, "the VM content plus a manifest, in one
// portable file", in a form plain tools can open):
//
//   PATH.smolmachine is an uncompressed POSIX tar with exactly two entries, in this order:
//     image.tar         a docker-save archive of the image, carrying no tags: the whole root
//                       filesystem of the packed machine, self-contained. From a registry (--image)
//                       it is the image as the registry serves it (`skopeo copy docker://REF
//                       docker-archive:`), as real smolvm packs what it pulls into its own store;
//                       only without skopeo, `docker save` of the pulled image ID (engine 29's
//                       containerd store saves a pulled image whose layers it already held WITHOUT
//                       them: a 9 KB archive that loads nowhere). --from-vm: `docker save` of the commit.
//     smolmachine.json  the manifest (written last, like smolvm's manifest-after-assets layout):
//       { "format": "smolvm-emulator-pack", "format_version": 1,
//         "mode": "container",
//         "image": "<source ref, e.g. 127.0.0.1:5000/x:tag, or the source VM's image>",
//         "digest": "<registry manifest digest sha256:… or \"\">",
//         "image_id": "<docker image id sha256:…>",
//         "platform": "linux/amd64",
//         "cpus": 4, "mem": 8192, "network": false,
//         "entrypoint": [..] , "cmd": [..], "env": ["K=V", ..], "workdir": "/x" | null, "user": "node" | null,
//         "created_at": <unix seconds>,
//         "source": { "kind": "image", "ref": "…" } | { "kind": "vm", "name": "…" },
//         "payload": { "name": "image.tar", "format": "docker-save", "size": N, "sha256": "<hex>" } }
//
//   `tar -xOf PATH.smolmachine image.tar | docker load` restores the image by hand on any engine.
//
// Both PATH and PATH.smolmachine are written to temporary names and renamed into place, so a second
// `pack create -o PATH` replaces both files with a whole new artifact (smolvm creates the sidecar
// afresh too: "appended" in the facts means the `.smolmachine` SUFFIX is appended to PATH, not that
// content is appended to an existing file).
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { chmodSync, closeSync, createReadStream, createWriteStream, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { basename } from 'node:path'
import { DOCKER, dockerSpawn, docker } from './smolvm-docker.mjs'
import { endOfArchive, entryHeader, listTarFile, padding, singleHeader } from './smolvm-tar.mjs'

/**
 * @typedef {object} PackManifest
 * @property {string} format
 * @property {number} format_version
 * @property {string} mode
 * @property {string} image
 * @property {string} digest
 * @property {string} image_id
 * @property {string} platform
 * @property {number} cpus
 * @property {number} mem
 * @property {boolean} network
 * @property {string[]} entrypoint
 * @property {string[]} cmd
 * @property {string[]} env
 * @property {string | null} workdir
 * @property {string | null} user
 * @property {number} created_at
 * @property {object} source
 * @property {{ name: string, format: string, size: number, sha256: string }} [payload]
 */

export const FORMAT = 'smolvm-emulator-pack'
export const SIDECAR_EXTENSION = '.smolmachine'

/** @param {string} path */
function tmpName(path) {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
}

/**
 * Write PATH.smolmachine: stream the image archive (a file, or `docker save IMAGE_ID`) straight into
 * the artifact (a placeholder header is rewritten once the size is known), then the manifest.
 * Returns { sidecar, size }.
 * @param {string} outPath @param {{ imageId: string } | { archive: string }} image @param {PackManifest} manifest
 */
export async function writeArtifact(outPath, image, manifest) {
  const sidecar = outPath + SIDECAR_EXTENSION
  const tmp = tmpName(sidecar)
  const ws = createWriteStream(tmp)
  const hash = createHash('sha256')
  let size = 0
  let saveErr = ''
  try {
    ws.write(Buffer.alloc(512, 0)) // placeholder for image.tar's header
    if ('archive' in image) {
      for await (const chunk of createReadStream(image.archive)) {
        hash.update(chunk)
        size += chunk.length
        if (!ws.write(chunk)) await once(ws, 'drain')
      }
    }
    const result = 'archive' in image ? { code: 0 } : await dockerSpawn(['save', image.imageId], {
      stdio: ['ignore', 'pipe', 'pipe'],
      onSpawn: (child) => {
        child.stderr?.on('data', (c) => (saveErr += c))
        const stdout = child.stdout
        stdout?.on('data', (chunk) => {
          hash.update(chunk)
          size += chunk.length
          if (!ws.write(chunk)) {
            stdout?.pause()
            ws.once('drain', () => stdout?.resume())
          }
        })
      },
    })
    if (result.code !== 0) throw new Error(`docker save failed: ${saveErr.trim() || `exit ${result.code}`}`)
    ws.write(padding(size))
    const full = { ...manifest, payload: { name: 'image.tar', format: 'docker-save', size, sha256: hash.digest('hex') } }
    const json = Buffer.from(JSON.stringify(full, null, 2) + '\n', 'utf8')
    ws.write(entryHeader({ name: 'smolmachine.json', size: json.length, mode: 0o644 }))
    ws.write(json)
    ws.write(padding(json.length))
    ws.write(endOfArchive())
    ws.end()
    await once(ws, 'finish')
    const fd = openSync(tmp, 'r+')
    try {
      writeSync(fd, singleHeader({ name: 'image.tar', size, mode: 0o644 }), 0, 512, 0)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, sidecar)
    return { sidecar, size, manifest: full }
  } catch (err) {
    ws.destroy()
    rmSync(tmp, { force: true })
    throw err
  }
}

/** Write the launcher PATH: a small shell script that runs the packed image once with docker. @param {string} outPath @param {PackManifest} manifest */
export function writeLauncher(outPath, manifest) {
  const name = basename(outPath)
  /** @param {unknown} s */
  const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`
  const command = [...(manifest.entrypoint ?? []), ...(manifest.cmd ?? [])]
  const script = `#!/bin/sh
# ${name}: launcher written by the bottle-tasks smolvm emulator ("smolvm pack create").
# Real smolvm writes a self-contained executable here; this one needs docker. It loads the image
# from the sidecar ${name}${SIDECAR_EXTENSION} (format: ${FORMAT}) and runs it once, removing
# the image again afterwards unless the engine already had it:
#   ./${name}                      run the packed entrypoint + cmd
#   ./${name} COMMAND [ARGS...]    run COMMAND instead
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sidecar="$here/$(basename "$0")${SIDECAR_EXTENSION}"
if [ ! -f "$sidecar" ]; then
  echo "Error: sidecar not found: $sidecar (keep the .smolmachine file alongside the binary)" >&2
  exit 1
fi
docker=\${SMOLVM_EMULATOR_DOCKER:-docker}
image_id=${q(manifest.image_id ?? '')}
had_image=no
if [ -n "$image_id" ] && "$docker" image inspect "$image_id" >/dev/null 2>&1; then had_image=yes; fi
id=$(tar -xOf "$sidecar" image.tar | "$docker" load | sed -n 's/^Loaded image ID: //p; s/^Loaded image: //p' | tail -n 1)
[ -n "$id" ] || { echo "Error: could not load the image from $sidecar" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- ${command.map(q).join(' ')}; fi
[ $# -gt 0 ] || { echo "Error: the pack has no entrypoint or cmd: give a COMMAND" >&2; exit 2; }
tty=
if [ -t 0 ] && [ -t 1 ]; then tty=-t; fi
entry=$1
shift
status=0
"$docker" run --rm -i $tty --entrypoint "$entry" "$id" "$@" || status=$?
if [ "$had_image" = no ]; then "$docker" image rm "$id" >/dev/null 2>&1 || true; fi
exit $status
`
  const tmp = tmpName(outPath)
  writeFileSync(tmp, script)
  chmodSync(tmp, 0o755)
  renameSync(tmp, outPath)
}

export class ArtifactError extends Error {}

/** @typedef {{ manifest: PackManifest, image: { offset: number, size: number } }} Artifact */

/** Read and validate an artifact. @param {string} path @returns {Artifact} */
export function readArtifact(path) {
  let entries
  try {
    entries = listTarFile(path)
  } catch (err) {
    throw new ArtifactError(`not a .smolmachine artifact written by this emulator (${err instanceof Error ? err.message : err})`)
  }
  const jsonEntry = entries.find((e) => e.name === 'smolmachine.json')
  const imageEntry = entries.find((e) => e.name === 'image.tar')
  if (!jsonEntry || !imageEntry) throw new ArtifactError('not a .smolmachine artifact written by this emulator (missing smolmachine.json or image.tar)')
  const fd = openSync(path, 'r')
  /** @type {PackManifest} */
  let manifest
  try {
    const buf = Buffer.alloc(jsonEntry.size)
    readRange(fd, buf, jsonEntry.offset)
    manifest = JSON.parse(buf.toString('utf8'))
  } catch (err) {
    throw new ArtifactError(`corrupt manifest in .smolmachine artifact: ${err instanceof Error ? err.message : err}`)
  } finally {
    closeSync(fd)
  }
  if (manifest.format !== FORMAT) throw new ArtifactError(`unsupported .smolmachine format '${manifest.format}'`)
  if (manifest.payload?.size !== imageEntry.size) throw new ArtifactError('corrupt .smolmachine artifact: payload size does not match the manifest')
  return { manifest, image: { offset: imageEntry.offset, size: imageEntry.size } }
}

/** @param {number} fd @param {Buffer} buf @param {number} position */
function readRange(fd, buf, position) {
  let done = 0
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done)
    if (n === 0) throw new Error('unexpected end of file')
    done += n
  }
}

/**
 * `docker load` the artifact's image.tar (streamed from its offset), verifying the sha256 on the
 * way. Returns the loaded image ID.
 * @param {string} path @param {Artifact} artifact @returns {Promise<string>}
 */
export async function loadArtifactImage(path, artifact) {
  const hash = createHash('sha256')
  let out = ''
  let err = ''
  const { offset, size } = artifact.image
  const result = await dockerSpawn(['load'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    onSpawn: (child) => {
      child.stdout?.on('data', (c) => (out += c))
      child.stderr?.on('data', (c) => (err += c))
      const stdin = child.stdin
      if (!stdin) return
      stdin.on('error', () => {})
      const rs = size > 0 ? createReadStream(path, { start: offset, end: offset + size - 1 }) : null
      if (!rs) {
        stdin.end()
        return
      }
      rs.on('data', (chunk) => hash.update(chunk))
      rs.pipe(stdin)
    },
  })
  if (result.code !== 0) throw new Error(`docker load failed: ${err.trim() || out.trim() || `exit ${result.code}`}`)
  const digest = hash.digest('hex')
  if (artifact.manifest.payload?.sha256 && artifact.manifest.payload.sha256 !== digest) {
    throw new ArtifactError('corrupt .smolmachine artifact: image payload checksum mismatch')
  }
  const byId = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(out)
  if (byId?.[1]) return byId[1]
  const byRef = /Loaded image: (\S+)/.exec(out)
  if (byRef?.[1]) {
    const r = docker(['image', 'inspect', '--format', '{{.Id}}', byRef[1]])
    if (r.code === 0) return r.stdout.trim()
  }
  throw new Error(`docker load did not report an image (${DOCKER} said: ${out.trim() || err.trim()})`)
}
