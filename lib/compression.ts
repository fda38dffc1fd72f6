// How a bundle's payload is compressed: zstd when the tool is there, else gzip (built into Node).
import { createGunzip, createGzip, constants } from 'node:zlib'
import type { Transform } from 'node:stream'
import { UsageError } from './cli.ts'
import { isOnPath } from './shell.ts'
import type { Argv } from './pipeline.ts'

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const
export type Compression = (typeof COMPRESSIONS)[number]

export async function chooseCompression(requested: string | undefined): Promise<Compression> {
  if (requested === undefined) return (await isOnPath('zstd')) ? 'zstd' : 'gzip'
  if (!COMPRESSIONS.includes(requested as Compression)) throw new UsageError(`unknown --compress "${requested}": use ${COMPRESSIONS.join(', ')}`)
  if (requested === 'zstd' && !(await isOnPath('zstd'))) throw new UsageError('--compress zstd needs the zstd tool on PATH (or use --compress gzip)')
  return requested as Compression
}

export const payloadName = (compression: Compression) => ({ zstd: 'snapshot.tar.zst', gzip: 'snapshot.tar.gz', none: 'snapshot.tar' })[compression]

/** A compressing step: an external command (runs on its own core) or a Node transform. */
export function compressor(compression: Compression): { command?: Argv; transform?: Transform } {
  if (compression === 'zstd') return { command: ['zstd', '-q', '-3', '-T0', '-c'] }
  // Level 1: gzip is the fallback; at higher levels it would be slower than the disk.
  if (compression === 'gzip') return { transform: createGzip({ level: constants.Z_BEST_SPEED }) }
  return {}
}

/** Decompress on our side: engines before 25 reject zstd input to `docker load`. */
export function decompressor(compression: Compression): { command?: Argv; transform?: Transform } {
  if (compression === 'zstd') return { command: ['zstd', '-q', '-d', '-c'] }
  if (compression === 'gzip') return { transform: createGunzip() }
  return {}
}
