// Just enough of the tar format for bundles: ustar headers, written and read. Not tar-stream (which
// lib/layers.ts uses): a bundle member streams to disk once and its header is written afterwards,
// when its compressed size is known (tar-stream wants the size first: the payload would have to be
// written twice); and import reads a bundle's headers by seeking past its members to the manifest
// at the end (a streaming reader would read the whole file before the checksums even start).
// Sizes over 8 GiB use the GNU base-256 size field, which GNU tar and Go's archive/tar read.

export const BLOCK = 512
const MAX_OCTAL_SIZE = 0o77777777777

export interface TarEntry {
  name: string
  size: number
  type: string
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

export function tarHeader(name: string, size: number, mtime = Math.floor(Date.now() / 1000), { mode = 0o644, type = '0' } = {}): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar member name too long: ${name}`)
  const header = Buffer.alloc(BLOCK)
  header.write(name, 0, 100, 'utf8')
  header.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'ascii')
  header.write('0000000\0', 108, 'ascii')
  header.write('0000000\0', 116, 'ascii')
  writeSize(header, size)
  header.write(`${mtime.toString(8).padStart(11, '0')}\0`, 136, 'ascii')
  header.write(type, 156, 'ascii')
  header.write('ustar\0', 257, 'ascii')
  header.write('00', 263, 'ascii')
  header.fill(' ', 148, 156)
  let checksum = 0
  for (const byte of header) checksum += byte
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
  return header
}

function writeSize(header: Buffer, size: number): void {
  if (size <= MAX_OCTAL_SIZE) {
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii')
    return
  }
  header[124] = 0x80
  let rest = BigInt(size)
  for (let offset = 135; offset > 124; offset--) {
    header[offset] = Number(rest & 0xffn)
    rest >>= 8n
  }
}

/** Parse one header block; undefined for an end-of-archive (all-zero) block. Throws on a corrupt one. */
export function parseHeader(block: Buffer): TarEntry | undefined {
  if (block.length !== BLOCK) throw new Error('truncated tar header')
  if (block.every((byte) => byte === 0)) return undefined
  const stored = parseInt(block.subarray(148, 156).toString('ascii').replace(/\0.*$/s, '').trim(), 8)
  let checksum = 0
  for (let i = 0; i < BLOCK; i++) checksum += i >= 148 && i < 156 ? 32 : block[i]!
  if (stored !== checksum) throw new Error('corrupt tar header (checksum mismatch)')
  const prefix = cString(block.subarray(345, 500))
  const name = cString(block.subarray(0, 100))
  return { name: prefix ? `${prefix}/${name}` : name, size: readSize(block), type: String.fromCharCode(block[156] || 48) }
}

function readSize(block: Buffer): number {
  if (block[124]! & 0x80) {
    let size = 0n
    for (let offset = 125; offset < 136; offset++) size = (size << 8n) | BigInt(block[offset]!)
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('tar member size out of range')
    return Number(size)
  }
  const size = parseInt(cString(block.subarray(124, 136)).trim() || '0', 8)
  if (!Number.isSafeInteger(size) || size < 0) throw new Error('corrupt tar member size')
  return size
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0)
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8')
}

/** A tar of the directories tmp/ and var/tmp/, root's, mode 1777: unpacked into a container, it re-initialises them. */
export function tempDirsArchive(): Buffer {
  const dir = (name: string) => tarHeader(name, 0, undefined, { mode: 0o1777, type: '5' })
  return Buffer.concat([dir('tmp/'), dir('var/tmp/'), Buffer.alloc(2 * BLOCK)])
}
