// @ts-check
// Minimal POSIX (ustar + pax) tar writing and reading for the smolvm emulator, Node built-ins only.
//
// Used for three things:
//   - the `.smolmachine` artifact (a tar: `smolmachine.json` then `image.tar`), written by
//     `pack create` and read by `machine create --from`;
//   - `machine cp` uploads: one regular-file entry owned by root, fed to `docker cp - CONTAINER:DIR`;
//   - `machine cp` downloads: the tar stream of `docker cp CONTAINER:PATH -`, from which exactly one
//     regular file is taken (a directory is refused: smolvm copies single files only).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

const BLOCK = 512
const MAX_OCTAL_SIZE = 0o77777777777 // 8 GiB - 1: larger sizes go into a pax header

/** @param {number} value @param {number} width */
function octal(value, width) {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

/** @param {string} key @param {string} value */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`
  let len = Buffer.byteLength(body) + 1
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body)
  return `${len}${body}`
}

/**
 * @typedef {{ name: string, size: number, mode?: number, uid?: number, gid?: number, mtime?: number, type?: string, uname?: string, gname?: string }} HeaderEntry
 */

/** @param {HeaderEntry} entry */
function rawHeader({ name, size, mode = 0o644, uid = 0, gid = 0, mtime = Math.floor(Date.now() / 1000), type = '0', uname = 'root', gname = 'root' }) {
  const h = Buffer.alloc(BLOCK, 0)
  h.write(name, 0, 100, 'utf8')
  h.write(octal(mode & 0o7777, 8), 100, 8, 'ascii')
  h.write(octal(uid, 8), 108, 8, 'ascii')
  h.write(octal(gid, 8), 116, 8, 'ascii')
  if (size > MAX_OCTAL_SIZE) {
    // GNU base-256: high bit set, big-endian binary (lets a header be rewritten in place)
    h[124] = 0x80
    let v = BigInt(size)
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn)
      v >>= 8n
    }
  } else {
    h.write(octal(size, 12), 124, 12, 'ascii')
  }
  h.write(octal(mtime, 12), 136, 12, 'ascii')
  h.write('        ', 148, 8, 'ascii') // checksum placeholder: spaces
  h.write(type, 156, 1, 'ascii')
  h.write('ustar\0', 257, 6, 'ascii')
  h.write('00', 263, 2, 'ascii')
  h.write(uname, 265, 32, 'ascii')
  h.write(gname, 297, 32, 'ascii')
  let sum = 0
  for (const byte of h) sum += byte
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii')
  return h
}

/** One 512-byte header block (name ≤ 100 bytes; sizes past 8 GiB in GNU base-256). */
/** @param {HeaderEntry} entry */
export function singleHeader(entry) {
  if (Buffer.byteLength(entry.name) > 100) throw new Error(`tar entry name too long: ${entry.name}`)
  return rawHeader(entry)
}

/** The header block(s) of one entry: a pax extended header first when the name or size needs it. */
/** @param {HeaderEntry} entry */
export function entryHeader(entry) {
  const { name, size } = entry
  /** @type {string[]} */
  const pax = []
  if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name))
  if (size > MAX_OCTAL_SIZE) pax.push(paxRecord('size', String(size)))
  const main = rawHeader({ ...entry, name: Buffer.byteLength(name) > 100 ? name.slice(0, 99) : name, size: size > MAX_OCTAL_SIZE ? 0 : size })
  if (pax.length === 0) return main
  const body = Buffer.from(pax.join(''), 'utf8')
  const paxHeader = rawHeader({ name: 'PaxHeaders/entry', size: body.length, type: 'x', mode: 0o644 })
  return Buffer.concat([paxHeader, body, padding(body.length), main])
}

/** Zero bytes that round `size` up to a whole block. */
/** @param {number} size */
export function padding(size) {
  const rest = size % BLOCK
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0)
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive() {
  return Buffer.alloc(BLOCK * 2, 0)
}

/** @param {Buffer} buf */
function parseOctal(buf) {
  // GNU base-256 (high bit set) for big numbers
  if ((buf[0] ?? 0) & 0x80) {
    let value = 0n
    for (let i = 1; i < buf.length; i++) value = (value << 8n) | BigInt(buf[i] ?? 0)
    return Number(value)
  }
  const text = buf.toString('ascii').replace(/\0.*$/s, '').trim()
  return text === '' ? 0 : parseInt(text, 8)
}

/** @param {Buffer} buf */
function cString(buf) {
  const end = buf.indexOf(0)
  return buf.subarray(0, end === -1 ? buf.length : end).toString('utf8')
}

/** @param {Buffer} block */
function isZeroBlock(block) {
  for (const byte of block) if (byte !== 0) return false
  return true
}

/** @param {Buffer} body @returns {Record<string, string>} */
function parsePax(body) {
  /** @type {Record<string, string>} */
  const out = {}
  let text = body.toString('utf8')
  while (text.length > 0) {
    const space = text.indexOf(' ')
    if (space <= 0) break
    const len = parseInt(text.slice(0, space), 10)
    if (!Number.isFinite(len) || len <= 0) break
    const record = text.slice(space + 1, len - 1) // without trailing \n
    const eq = record.indexOf('=')
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1)
    text = text.slice(len)
  }
  return out
}

/**
 * @typedef {{ name: string, mode: number, uid: number, gid: number, size: number, type: string, linkname: string }} Header
 */

/** Decode one 512-byte header block (no pax applied). @param {Buffer} block @returns {Header | null} */
export function decodeHeader(block) {
  if (isZeroBlock(block)) return null
  const stored = parseOctal(block.subarray(148, 156))
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0)
  if (sum !== stored) throw new Error('tar header checksum mismatch (not a tar archive, or corrupt)')
  const magic = block.subarray(257, 263).toString('ascii')
  let name = cString(block.subarray(0, 100))
  if (magic.startsWith('ustar')) {
    const prefix = cString(block.subarray(345, 500))
    if (prefix && magic === 'ustar\0') name = `${prefix}/${name}`
  }
  return {
    name,
    mode: parseOctal(block.subarray(100, 108)),
    uid: parseOctal(block.subarray(108, 116)),
    gid: parseOctal(block.subarray(116, 124)),
    size: parseOctal(block.subarray(124, 136)),
    type: String.fromCharCode(block[156] || 48), // NUL means regular file
    linkname: cString(block.subarray(157, 257)),
  }
}

/**
 * List the entries of a tar FILE without reading the data: [{name, size, type, mode, offset}] where
 * `offset` is where the entry's data starts in the file. Pax and GNU long-name headers are applied.
 */
/** @param {string} path @returns {Array<Header & { offset: number }>} */
export function listTarFile(path) {
  const fd = openSync(path, 'r')
  try {
    const total = fstatSync(fd).size
    /** @type {Array<Header & { offset: number }>} */
    const entries = []
    const block = Buffer.alloc(BLOCK)
    let pos = 0
    /** @type {Record<string, string>} */
    let pending = {}
    while (pos + BLOCK <= total) {
      readSync(fd, block, 0, BLOCK, pos)
      const header = decodeHeader(block)
      if (header === null) break
      pos += BLOCK
      const size = pending.size !== undefined ? Number(pending.size) : header.size
      if (header.type === 'x' || header.type === 'g' || header.type === 'L') {
        const body = Buffer.alloc(header.size)
        readSync(fd, body, 0, header.size, pos)
        if (header.type === 'x') pending = { ...pending, ...parsePax(body) }
        if (header.type === 'L') pending = { ...pending, path: cString(body) }
        pos += header.size + padding(header.size).length
        continue
      }
      entries.push({ ...header, name: pending.path ?? header.name, size, offset: pos })
      pending = {}
      pos += size + padding(size).length
    }
    if (pos > total) throw new Error('truncated tar archive')
    return entries
  } finally {
    closeSync(fd)
  }
}

/**
 * Read a tar STREAM (an async iterable of Buffers) and hand each entry to `onEntry(header)`, which
 * returns a sink `{ write(buf), end() }` for the entry's data, or null to skip it. Pax and GNU
 * long-name headers are applied. Resolves when the archive ends.
 */
/**
 * @typedef {{ write: (chunk: Buffer) => Promise<unknown> | unknown, end: () => Promise<void> | void }} Sink
 */

/**
 * @param {AsyncIterable<Buffer>} stream @param {(header: Header) => Promise<Sink | null> | Sink | null} onEntry
 */
export async function readTarStream(stream, onEntry) {
  /** @type {Buffer} */
  let buf = Buffer.alloc(0)
  let state = 'header'
  /** @type {{ remaining: number, pad: number, sink: Sink | null } | null} */
  let current = null
  /** @type {Record<string, string>} */
  let pending = {}
  /** @type {{ type: string, remaining: number, pad: number } | null} */
  let meta = null
  for await (const chunk of stream) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    for (;;) {
      if (state === 'header') {
        if (buf.length < BLOCK) break
        const block = buf.subarray(0, BLOCK)
        buf = buf.subarray(BLOCK)
        const header = decodeHeader(block)
        if (header === null) {
          state = 'end'
          break
        }
        if (header.type === 'x' || header.type === 'g' || header.type === 'L') {
          meta = { type: header.type, remaining: header.size, pad: padding(header.size).length }
          state = 'meta'
          continue
        }
        const size = pending.size !== undefined ? Number(pending.size) : header.size
        const full = { ...header, name: pending.path ?? header.name, size }
        pending = {}
        const sink = await onEntry(full)
        current = { remaining: size, pad: padding(size).length, sink }
        state = 'data'
        continue
      }
      if (state === 'meta' && meta) {
        const need = meta.remaining + meta.pad
        if (buf.length < need) break
        const body = buf.subarray(0, meta.remaining)
        buf = buf.subarray(need)
        if (meta.type === 'x') pending = { ...pending, ...parsePax(body) }
        if (meta.type === 'L') pending = { ...pending, path: cString(body) }
        meta = null
        state = 'header'
        continue
      }
      if (state === 'data' && current) {
        if (current.remaining > 0) {
          if (buf.length === 0) break
          const take = Math.min(buf.length, current.remaining)
          if (current.sink) await current.sink.write(buf.subarray(0, take))
          buf = buf.subarray(take)
          current.remaining -= take
          if (current.remaining > 0) break
        }
        if (buf.length < current.pad) break
        buf = buf.subarray(current.pad)
        if (current.sink) await current.sink.end()
        current = null
        state = 'header'
        continue
      }
      break // 'end': ignore the rest
    }
  }
  if (state === 'data' || state === 'meta') throw new Error('truncated tar stream')
}
