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
  /** Set by the backend's last commit step. */
  snapshotRef?: string
}

/** What a task asks of a backend. Tasks never branch on the backend's name. */
export interface BottleBackend {
  name: Backend
  /** Bottles of this backend that exist in the engine (running or stopped). */
  listActive(): Promise<ActiveBottle[]>
  status(slug: string): Promise<BottleStatus>
  /** Start a new bottle from an image. */
  start(bottle: Bottle, image: string): Promise<void>
  /** The steps that snapshot a running bottle into `snapshotRef`, keeping it running. */
  commitSteps(): Step<CommitContext>[]
  snapshotExists(snapshotRef: string): Promise<boolean>
  /** Build the image a bottle is rebuilt from when its snapshot is gone; returns its reference. */
  rebuild(bottle: Bottle): Promise<string>
  /** Boot a stopped-and-removed bottle from an image or snapshot. */
  boot(bottle: Bottle, source: string): Promise<void>
  /** Start the bottle's existing stopped container/VM again. */
  restart(slug: string): Promise<void>
  /** Make /tmp and /var/tmp exist with mode 1777. */
  initTempDirs(slug: string): Promise<void>
  /** Stop and remove the bottle's container/VM. */
  remove(slug: string): Promise<void>
  /** The command that opens an interactive shell in the bottle. */
  shellCommand(slug: string): [string, ...string[]]
}
