import type { Readable, Writable } from 'node:stream'
import type { Compression } from '../compression.ts'
import type { Step } from '../progress.ts'
import type { Backend, Metadata } from '../state.ts'

export type BottleStatus = 'running' | 'stopped' | 'absent'

export interface Bottle {
  slug: string
  metadata: Metadata
}

export interface ActiveBottle {
  slug: string
  status: BottleStatus
}

export interface CommitContext {
  bottle: Bottle
  /** Set by the backend's commit steps. */
  snapshotRef?: string
  /** How many layers the snapshot has (docker): deep ones get flattened. */
  layers?: number
  /** Credentials in the bottle's environment (names): their values stay out of the snapshot. */
  secretNames?: string[]
}

/** What a task asks of a backend. Tasks never branch on the backend's name. */
export interface BottleBackend {
  name: Backend
  /** Bottles of this backend in the engine (running or stopped) that belong to this state root or to no toolkit root (made by bot-bottle). */
  listActive(): Promise<ActiveBottle[]>
  status(slug: string): Promise<BottleStatus>
  /** Start a new bottle from an image. */
  start(bottle: Bottle, image: string): Promise<void>
  /** The steps that snapshot a running bottle into `snapshotRef`, keeping it running. */
  commitSteps(): Step<CommitContext>[]
  snapshotExists(snapshotRef: string): Promise<boolean>
  /** Build the image a bottle is rebuilt from when its snapshot is gone; returns its reference. */
  rebuild(bottle: Bottle): Promise<string>
  /** Boot a stopped-and-removed bottle from an image or snapshot; `report` tells of long sub-steps. */
  boot(bottle: Bottle, source: string, report?: (message: string) => void): Promise<void>
  /** Start the bottle's existing stopped container/VM again. */
  restart(slug: string): Promise<void>
  /** Make /tmp and /var/tmp exist with mode 1777. */
  initTempDirs(slug: string): Promise<void>
  /** Stop and remove the bottle's container/VM. */
  remove(slug: string): Promise<void>
  /** The command that opens an interactive shell in the bottle. */
  shellCommand(slug: string): [string, ...string[]]

  // History and forks.
  /** Keep the newest snapshot as number `n` of the bottle's history; returns its own reference and size. */
  keepSnapshot(slug: string, latestRef: string, n: number): Promise<{ ref: string; sizeBytes: number }>
  /** Remove one kept snapshot (prune); the newest, which committed-image names, is never passed here. */
  removeSnapshot(ref: string): Promise<void>
  /** Give `ref` to another bottle as its snapshot (fork); files may go into `stagedDir`. Returns its reference. */
  copySnapshot(ref: string, slug: string, stagedDir: string): Promise<string>

  // Moving a snapshot between hosts.
  /** The layers (diff ids, bottom first) of an image or snapshot, or undefined when absent. */
  layersOf(reference: string): Promise<string[] | undefined>
  /** Stream the snapshot, compressed, into `sink`, leaving out the layers in `leaveOut`. */
  saveSnapshot(snapshotRef: string, sink: Writable, options: SaveOptions): Promise<{ droppedLayers: number }>
  /** Load a payload written by `saveSnapshot` (of `snapshotRef` on the source host); returns what was loaded. */
  loadSnapshot(payload: Readable, compression: Compression, snapshotRef: string): Promise<string>
  /**
   * Make a loaded snapshot the bottle's snapshot; files may go into `stagedDir`, the state dir being
   * built. Returns what `committed-image` records.
   */
  adoptSnapshot(loaded: string, slug: string, stagedDir: string): Promise<string>
  pushSnapshot(snapshotRef: string, registryRef: string): Promise<{ digest: string }>
  /** Pull from a registry; returns what was pulled and the labels that travelled with it. */
  pullSnapshot(registryRef: string): Promise<{ loaded: string; labels: Record<string, string> }>
  /** Forget a loaded or pulled snapshot that will not be used (a failed or refused import). */
  discardSnapshot(reference: string): Promise<void>
}

export interface SaveOptions {
  compression: Compression
  leaveOut: string[]
  /** Where layers may be staged while they are hashed (the bundle's directory). */
  tempDir: string
}
