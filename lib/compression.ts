// How a bundle's payload is compressed: zstd when the tool is there, else gzip (built into Node).
import { createGunzip, createGzip, constants } from 'node:zlib'
import type { Transform } from 'node:stream'
import { UsageError } from './errors.ts'
import { isOnPath } from './shell.ts'
import type { Argv } from './pipeline.ts'

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const
export type Compression = (typeof COMPRESSIONS)[number]

export async function chooseCompression(requested: Compression | undefined): Promise<Compression> {
  if (requested === undefined) return (await isOnPath('zstd')) ? 'zstd' : 'gzip'
  if (requested === 'zstd' && !(await isOnPath('zstd'))) throw new UsageError('--compress zstd needs the zstd tool on PATH (or use --compress gzip)')
  return requested
}

export const payloadName = (compression: Compression) => ({ zstd: 'snapshot.tar.zst', gzip: 'snapshot.tar.gz', none: 'snapshot.tar' })[compression]

/** The stages that compress: an external command (runs on its own core) or a Node transform. */
export function compressing(compression: Compression): Stages {
  if (compression === 'zstd') return { commands: [['zstd', '-q', '-3', '-T0', '-c']], transforms: [] }
  // Level 1: gzip is the fallback; at higher levels it would be slower than the disk.
  if (compression === 'gzip') return { commands: [], transforms: [createGzip({ level: constants.Z_BEST_SPEED })] }
  return { commands: [], transforms: [] }
}

/** Decompress on our side: engines before 25 reject zstd input to `docker load`. */
export function decompressing(compression: Compression): Stages {
  if (compression === 'zstd') return { commands: [['zstd', '-q', '-d', '-c']], transforms: [] }
  if (compression === 'gzip') return { commands: [], transforms: [createGunzip()] }
  return { commands: [], transforms: [] }
}

/** Commands to append to a pipeline and Node transforms after its last command. */
export interface Stages {
  commands: Argv[]
  transforms: Transform[]
}
