import type { Readable, Writable } from 'node:stream'
import type { Compression } from '../compression.ts'
import type { FileList, FileRecord } from '../file-list.ts'
import type { Step } from '../progress.ts'
import type { BackendRun, RelaxKey } from '../run-config.ts'
import type { Backend, Metadata } from '../state.ts'

export type BottleStatus = 'running' | 'stopped' | 'absent'

export interface Bottle {
  slug: string
  metadata: Metadata
}

export interface ActiveBottle {
  slug: string
  status: BottleStatus
  /** Parts of the bottle left in the engine without it (a compose bottle's sidecars): cleanup removes them. */
  leftovers?: boolean
}

export interface CommitContext {
  bottle: Bottle
  /** Set by the backend's commit steps. */
  snapshotRef?: string
  /** How the bottle runs (networks, limits, mounts…), read by the commit steps. */
  run?: BackendRun
  /** How many layers the snapshot has (docker): deep ones get flattened. */
  layers?: number
  /** Credentials in the bottle's environment (names): their values stay out of the snapshot. */
  secretNames?: string[]
  /** The image the bottle runs from (an id), read by the commit steps: the snapshot builds on it. */
  builtOn?: string
  /** What differed from the bottle's image when it was captured, as a digest: watch gives it (see changedSince). */
  changeSet?: string
  /** Paths and globs to keep out of the snapshot (commit --exclude, the state dir's `exclude`). */
  exclude?: string[]
  /** The snapshot's file list, where the backend can list the bottle's files: kept with the history. */
  files?: FileRecord
  /** The bytes of the files `exclude` kept out of the snapshot. */
  excludedBytes?: number
}

/** The newest snapshot, as watch asks whether the bottle changed since. */
export interface NewestSnapshot {
  n: number
  ref: string
  /** When its commit began. */
  since: Date
  changeSet?: string | undefined
}

export interface BootOptions {
  /** How the bottle ran when it was committed; undefined for snapshots older than run configurations. */
  run?: BackendRun
  /** The source is a rebuild (its image), not a snapshot: without a record it boots as `start` makes one. */
  rebuilt?: boolean
  /** Confining properties the user accepts losing (`resume --relax KEY`). */
  relax: ReadonlySet<RelaxKey>
  /** Tells of long sub-steps and of what was relaxed. */
  report: (message: string) => void
  /**
   * A bottle from elsewhere, not trusted (lib/origin.ts): `run` is already held to what was allowed;
   * the backend hands in only allowed host values, and uses only volumes and networks that are the
   * `owner`'s (labelled so, or made now and labelled) unless allowed by name.
   */
  held?: Held
}

export interface Held {
  owner: string
  allowed: ReadonlySet<string>
}

/** A named volume of a bottle, as it travels in a bundle. */
export interface VolumeEntry {
  name: string
  /** Where the bottle mounts it. */
  target: string
  /** Bytes, when the engine can say before copying (-1: unknown). */
  sizeBytes: number
}

/** What a task asks of a backend. Tasks never branch on the backend's name. */
export interface BottleBackend {
  name: Backend
  /** Bottles of this backend in the engine (running or stopped) that belong to this state root or to no toolkit root (made by bot-bottle). */
  listActive(): Promise<ActiveBottle[]>
  status(slug: string): Promise<BottleStatus>
  /** Start a new bottle from an image. */
  start(bottle: Bottle, image: string): Promise<void>
  /** The steps that snapshot a running bottle into `snapshotRef` and read its run configuration, keeping it running. */
  commitSteps(): Step<CommitContext>[]
  snapshotExists(snapshotRef: string): Promise<boolean>
  /** Build the image a bottle is rebuilt from when its snapshot is gone; returns its reference. */
  rebuild(bottle: Bottle): Promise<string>
  /** The run configuration a snapshot carries in its labels (when the state dir lost it, or on import). */
  runOfSnapshot(snapshotRef: string): Promise<BackendRun | undefined>
  /**
   * Boot a bottle that is not there from an image or snapshot, as it ran: refuses (Unreproducible)
   * before anything runs when a confining property cannot be reproduced and was not relaxed.
   * Returns what was relaxed.
   */
  boot(bottle: Bottle, source: string, options: BootOptions): Promise<string[]>
  /**
   * Whether the running bottle's files changed since its newest snapshot was captured (undefined
   * when this backend or bottle cannot tell: watch then commits), and what differs from its image
   * now as a digest, for the snapshot watch takes next to record.
   */
  changedSince(slug: string, newest: NewestSnapshot): Promise<{ changed: boolean | undefined; changeSet?: string }>
  /**
   * The running bottle's files now, with the versions of its newest snapshot's list for what did not
   * change since (lib/file-list.ts): what `diff` compares a snapshot with. Absent where the backend
   * cannot list a bottle's files.
   */
  currentFiles?(slug: string): Promise<FileList>
  /** Start the bottle's existing stopped container/VM again. */
  restart(slug: string): Promise<void>
  /** Make /tmp and /var/tmp exist with mode 1777 (a no-op where boot and restart do it before the bottle starts). */
  initTempDirs(slug: string): Promise<void>
  /** Stop and remove the bottle's container/VM, and its sidecars; named volumes stay. */
  remove(slug: string): Promise<void>
  /** The command that opens an interactive shell in the bottle. */
  shellCommand(slug: string): [string, ...string[]]

  // History and forks.
  /**
   * Keep the newest snapshot as number `n` of the bottle's history; returns its own reference, its
   * size, and what it adds (`ownBytes`) beyond whichever of `bases` it builds on (the snapshot
   * before it, the image the bottle runs from, the snapshot a fork copies); undefined where unknown.
   */
  keepSnapshot(slug: string, latestRef: string, n: number, bases?: string[]): Promise<{ ref: string; id?: string; sizeBytes: number; ownBytes?: number }>
  /** Remove kept snapshots (prune), in as few engine calls as it can; the one committed-image names is never passed here. */
  removeSnapshots(refs: string[]): Promise<void>
  /** Give `ref` to another bottle as its snapshot (fork); files may go into `stagedDir`. Returns its reference. */
  copySnapshot(ref: string, slug: string, stagedDir: string): Promise<string>
  /**
   * The run of a fork: the same, with its own copies of the named volumes (made here) and its own
   * names where the source's carried its slug. Files of the state dir (a compose file) go into `stagedDir`.
   */
  forkRun(run: BackendRun, from: Bottle, to: string, stagedDir: string, snapshotRef: string): Promise<BackendRun>

  // Moving a snapshot between hosts.
  /** The layers (diff ids, bottom first) of an image or snapshot, or undefined when absent. */
  layersOf(reference: string): Promise<string[] | undefined>
  /** Why this host cannot load a snapshot archive of that kind with its base layers left out, if it cannot. */
  partialLoadProblem(archive: 'docker-legacy' | 'oci-layout' | undefined): Promise<string | undefined>
  /** Stream the snapshot, compressed, into `sink`, leaving out the layers in `leaveOut`. */
  saveSnapshot(snapshotRef: string, sink: Writable, options: SaveOptions): Promise<{ droppedLayers: number; archive?: 'docker-legacy' | 'oci-layout' }>
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

  // Volumes (named volumes travel in bundles; bind mounts never do). `snapshotRef` is a snapshot
  // of the bottle on this host, for backends that reach volumes through it.
  /** The named volumes of a run, with their sizes when known. */
  volumesOf(run: BackendRun): Promise<VolumeEntry[]>
  /** Stream a volume's contents as a compressed tar into `sink`. */
  saveVolume(name: string, sink: Writable, compression: Compression, snapshotRef: string, onBytes?: (bytes: number, final: boolean) => void): Promise<void>
  /**
   * Whether a volume exists here with something in it (import refuses to overwrite it without
   * --force); one that exists and is not the bottle `owner`'s is refused outright (bad input).
   */
  volumeInUse(name: string, snapshotRef: string, owner: string): Promise<boolean>
  /** Create (or empty, with `replace`) the bottle `owner`'s volume, labelled so, and fill it from a payload written by `saveVolume`. */
  loadVolume(name: string, payload: Readable, compression: Compression, replace: boolean, snapshotRef: string, owner: string): Promise<void>
}

export interface SaveOptions {
  compression: Compression
  leaveOut: string[]
  /** Where layers may be staged while they are hashed (the bundle's directory). */
  tempDir: string
  /** Bytes of the snapshot read so far (before compression), for progress. */
  onBytes?: (bytes: number, final: boolean) => void
  /** What the save will read, when the backend knows it better than the recorded image size. */
  onSize?: (bytes: number) => void
}
